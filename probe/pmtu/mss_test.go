package pmtu

import "testing"

// TestClampMSS: Azure VPN Gateway's 1350 for any path that carries 1390 bytes
// or more, the measured MTU − 40 below that.
func TestClampMSS(t *testing.T) {
	tests := []struct{ mtu, want int }{
		{9000, 1350},
		{1500, 1350},
		{1400, 1350}, // the usual IPsec tunnel: not 1360
		{1390, 1350},
		{1389, 1349},
		{1360, 1320},
		{1280, 1240},
	}
	for _, tt := range tests {
		if got := ClampMSS(tt.mtu); got != tt.want {
			t.Errorf("ClampMSS(%d) = %d, want %d", tt.mtu, got, tt.want)
		}
	}
}
