package standin

import (
	"fmt"
	"net"
	"strings"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestStandInPortNotAllowed: a coordinator's stand-in request on a port
// outside the probe's --stand-in-ports is refused and the port never bound;
// an allowed port is served, and so is the probe's own --stand-in port.
func TestStandInPortNotAllowed(t *testing.T) {
	m, reqs := startManager(t)
	allowed, foreign, own := freePort(t), freePort(t), freePort(t)
	m.AllowPorts([]uint32{allowed})
	reqs <- []Request{{Port: foreign}, {Port: allowed}, {Port: own, Continuous: true}}
	st := waitState(t, m, foreign, linkmeshv1.StandInState_STAND_IN_STATE_FAILED)
	if want := fmt.Sprintf("port %d is not one of this probe's --stand-in-ports (%d)", foreign, allowed); !strings.Contains(st.GetDetail(), want) {
		t.Errorf("detail %q, want %q", st.GetDetail(), want)
	}
	waitState(t, m, allowed, linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	waitState(t, m, own, linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	lis, err := net.Listen("tcp", addr(foreign))
	if err != nil {
		t.Fatalf("the refused port is held: %v", err)
	}
	lis.Close()
	if !greeted(t, allowed) {
		t.Error("nothing served on the allowed port")
	}
}

// TestStandInDefaultPorts: AllowPorts(nil) allows 5022 only.
func TestStandInDefaultPorts(t *testing.T) {
	m, reqs := startManager(t)
	m.AllowPorts(nil)
	port := freePort(t)
	reqs <- []Request{{Port: port}}
	st := waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_FAILED)
	if !strings.Contains(st.GetDetail(), "--stand-in-ports (5022)") {
		t.Errorf("detail %q", st.GetDetail())
	}
}
