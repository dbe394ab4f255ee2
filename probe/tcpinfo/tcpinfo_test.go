package tcpinfo

import (
	"net"
	"runtime"
	"testing"
)

func TestGetLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := Get(c.(*net.TCPConn))
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		if err == nil {
			t.Fatalf("Get on %s: no error, want ErrUnsupported", runtime.GOOS)
		}
		return
	}
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if info.MSS <= 0 {
		t.Errorf("MSS %d, want > 0", info.MSS)
	}
	if runtime.GOOS == "linux" {
		// Loopback: MTU 65536, timestamps on by default, nothing lost.
		if info.PathMTU < 1500 || !info.Timestamps || info.Retransmits != 0 || info.Unacked != 0 {
			t.Errorf("got %+v, want path MTU ≥ 1500, timestamps, no retransmits, nothing unacknowledged", info)
		}
		if got := Overhead(c.(*net.TCPConn), info.Timestamps); got != 52 {
			t.Errorf("overhead %d, want 52 (IPv4 20 + TCP 20 + timestamps 12)", got)
		}
	}
}
