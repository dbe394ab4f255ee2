package echo

import (
	"fmt"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/probe/pmtu"
)

// TestBlackholeAdviceMSS: the black hole's detail gives the MSS of
// pmtu.ClampMSS, the number `linkmesh check`'s MTU row gives for the same
// measured MTU — 1350 on the usual 1400-byte tunnel, not 1360.
func TestBlackholeAdviceMSS(t *testing.T) {
	for _, mtu := range []int{1400, 1390, 1360, 1280} {
		d := mtuFigures{blackhole: true, exact: true, full: 1500, mtu: mtu}.String()
		want := fmt.Sprintf("clamp the TCP MSS on the VPN device to %d ", pmtu.ClampMSS(mtu))
		if !strings.Contains(d, want) {
			t.Errorf("MTU %d: detail %q lacks %q", mtu, d, want)
		}
	}
	if d := (mtuFigures{blackhole: true, exact: true, full: 1500, mtu: 1400}).String(); !strings.Contains(d, "to 1350 ") {
		t.Errorf("a 1400-byte path: %q, want the MSS 1350", d)
	}
}
