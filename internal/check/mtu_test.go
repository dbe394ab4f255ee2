package check

import (
	"fmt"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/probe/pmtu"
)

// TestMTUFixMSS: the MTU row's fix clamps the MSS to pmtu.ClampMSS of the
// measured MTU, the number the mesh's echo detail gives for the same path.
func TestMTUFixMSS(t *testing.T) {
	for _, mtu := range []uint32{1400, 1390, 1360, 1280} {
		f := mtuFix(mtu)
		mss := pmtu.ClampMSS(int(mtu))
		if !strings.Contains(f.Steps[0].Text, fmt.Sprintf("Clamp the TCP MSS to %d ", mss)) || !strings.HasSuffix(f.Steps[0].Command, fmt.Sprintf("--set-mss %d", mss)) {
			t.Errorf("MTU %d: %q / %q, want the MSS %d", mtu, f.Steps[0].Text, f.Steps[0].Command, mss)
		}
	}
	if got := mtuFix(1400).Steps[0].Command; !strings.HasSuffix(got, "--set-mss 1350") {
		t.Errorf("a 1400-byte path: %q, want --set-mss 1350", got)
	}
}
