//go:build linux

package pmtu

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDontFragmentSetsPMTUDiscDo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: DontFragment}
	c, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.(*net.TCPConn).SyscallConn()
	var got int
	var gerr error
	rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER) })
	if gerr != nil || got != unix.IP_PMTUDISC_DO {
		t.Errorf("IP_MTU_DISCOVER = %d (%v), want IP_PMTUDISC_DO (%d)", got, gerr, unix.IP_PMTUDISC_DO)
	}
}
