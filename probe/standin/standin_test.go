package standin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// acceptAndGreet stands in for the responder: it answers every connection
// with "hi" and closes it.
func acceptAndGreet(ctx context.Context, lis net.Listener) error {
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	for {
		c, err := lis.Accept()
		if err != nil {
			return nil
		}
		c.Write([]byte("hi"))
		c.Close()
	}
}

func freePort(t *testing.T) uint32 {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return uint32(lis.Addr().(*net.TCPAddr).Port)
}

func addr(port uint32) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))) }

func startManager(t *testing.T) (*Manager, chan<- []Request) {
	t.Helper()
	m := New(acceptAndGreet, "127.0.0.1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	reqs := make(chan []Request)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, reqs) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, reqs
}

// waitState polls the manager until port has state, or fails after 5 s.
func waitState(t *testing.T, m *Manager, port uint32, want linkmeshv1.StandInState) *linkmeshv1.StandInStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, s := range m.Statuses() {
			if s.GetPort() == port && s.GetState() == want {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d never reached %s; statuses %v", port, want, m.Statuses())
		}
		select {
		case <-m.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func greeted(t *testing.T, port uint32) bool {
	c, err := net.DialTimeout("tcp", addr(port), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	b, _ := io.ReadAll(c)
	return string(b) == "hi"
}

func TestServesAndReleasesWhenWithdrawn(t *testing.T) {
	m, reqs := startManager(t)
	port := freePort(t)
	reqs <- []Request{{Port: port, MaxDuration: time.Minute}}
	st := waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	if !strings.Contains(st.GetDetail(), "for at most 1m0s") {
		t.Errorf("detail %q", st.GetDetail())
	}
	if !greeted(t, port) {
		t.Fatal("nothing served on the stand-in port")
	}
	reqs <- nil
	if !waitfor.Poll(5*time.Second, func() bool { return len(m.Statuses()) == 0 }) {
		t.Fatalf("statuses after withdrawal: %v", m.Statuses())
	}
	lis, err := net.Listen("tcp", addr(port)) // released before the status went
	if err != nil {
		t.Fatalf("port not released: %v", err)
	}
	lis.Close()
}

func TestPortTakenIsLeftAlone(t *testing.T) {
	m, reqs := startManager(t)
	holder, err := net.Listen("tcp", "127.0.0.1:0") // the "mirroring endpoint"
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	port := uint32(holder.Addr().(*net.TCPAddr).Port)
	reqs <- []Request{{Port: port}}
	st := waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN)
	if !strings.Contains(st.GetDetail(), "in use by another program") || !strings.Contains(st.GetDetail(), "tcp kind") {
		t.Errorf("detail %q", st.GetDetail())
	}
}

func TestReleasedAfterMaxDuration(t *testing.T) {
	m, reqs := startManager(t)
	port := freePort(t)
	reqs <- []Request{{Port: port, MaxDuration: 200 * time.Millisecond}}
	waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_ENDED)
	lis, err := net.Listen("tcp", addr(port))
	if err != nil {
		t.Fatalf("port not released after max duration: %v", err)
	}
	lis.Close()
	// The same request again does not start it anew: the coordinator must
	// withdraw it and ask again.
	reqs <- []Request{{Port: port, MaxDuration: 200 * time.Millisecond}}
	if st := m.Statuses(); len(st) != 1 || st[0].GetState() != linkmeshv1.StandInState_STAND_IN_STATE_ENDED {
		t.Errorf("statuses %v, want still ended", st)
	}
}

func TestContinuousHasNoLimit(t *testing.T) {
	m, reqs := startManager(t)
	port := freePort(t)
	reqs <- []Request{{Port: port, Continuous: true}}
	st := waitState(t, m, port, linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	if !strings.Contains(st.GetDetail(), "until the probe stops") {
		t.Errorf("detail %q", st.GetDetail())
	}
}
