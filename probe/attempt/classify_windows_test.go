//go:build windows

package attempt

import (
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// opErr wraps errno the way the net package on Windows returns it.
func opErr(op, syscallName string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(syscallName, errno)}
}

func TestClassifyWinsock(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{name: "refused", err: opErr("dial", "connectex", windows.WSAECONNREFUSED), want: Refused},
		{name: "refused win32", err: opErr("dial", "connectex", windows.ERROR_CONNECTION_REFUSED), want: Refused},
		{name: "timed out", err: opErr("dial", "connectex", windows.WSAETIMEDOUT), want: Timeout},
		{name: "host unreachable", err: opErr("dial", "connectex", windows.WSAEHOSTUNREACH), want: Unreachable},
		{name: "net unreachable", err: opErr("dial", "connectex", windows.WSAENETUNREACH), want: Unreachable},
		{name: "net down", err: opErr("dial", "connectex", windows.WSAENETDOWN), want: Unreachable},
		{name: "firewall on connect", err: opErr("dial", "connectex", windows.WSAEACCES), want: Unreachable},
		{name: "eacces on bind is local", err: opErr("dial", "bind", windows.WSAEACCES), want: Error},
		{name: "reset", err: opErr("read", "wsarecv", windows.WSAECONNRESET), want: Reset},
		{name: "aborted", err: opErr("read", "wsarecv", windows.WSAECONNABORTED), want: Reset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
