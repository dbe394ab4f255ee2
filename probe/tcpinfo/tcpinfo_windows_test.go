//go:build windows

package tcpinfo

import "testing"

// TestWindowsRetransmits: every resend of a small segment raises the count,
// though the bytes resent stay below one MSS.
func TestWindowsRetransmits(t *testing.T) {
	tests := []struct {
		name string
		in   tcpInfoV0
		want uint32
	}{
		{"nothing resent", tcpInfoV0{Mss: 1460}, 0},
		{"one small segment resent by a timeout", tcpInfoV0{Mss: 1460, BytesRetrans: 70, TimeoutEpisodes: 1}, 1},
		{"two small segments: bytes say 1, episodes 2", tcpInfoV0{Mss: 1460, BytesRetrans: 140, TimeoutEpisodes: 1, FastRetrans: 1}, 2},
		{"bulk: bytes say more", tcpInfoV0{Mss: 1000, BytesRetrans: 10000, FastRetrans: 2}, 10},
		{"no MSS yet", tcpInfoV0{TimeoutEpisodes: 1}, 1},
	}
	for _, tt := range tests {
		if got := windowsRetransmits(tt.in); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}
