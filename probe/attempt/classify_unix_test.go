//go:build !windows

package attempt

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// opErr wraps errno the way the net package returns it: a *net.OpError around an
// *os.SyscallError naming the system call.
func opErr(op, syscallName string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(syscallName, errno)}
}

func TestClassifyErrno(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{name: "connect refused", err: opErr("dial", "connect", syscall.ECONNREFUSED), want: Refused},
		{name: "connect timed out", err: opErr("dial", "connect", syscall.ETIMEDOUT), want: Timeout},
		{name: "host unreachable", err: opErr("dial", "connect", syscall.EHOSTUNREACH), want: Unreachable},
		{name: "net unreachable", err: opErr("dial", "connect", syscall.ENETUNREACH), want: Unreachable},
		{name: "host down", err: opErr("dial", "connect", syscall.EHOSTDOWN), want: Unreachable},
		{name: "net down", err: opErr("dial", "connect", syscall.ENETDOWN), want: Unreachable},
		{name: "local firewall eperm on connect", err: opErr("dial", "connect", syscall.EPERM), want: Unreachable},
		{name: "eacces on connect", err: opErr("dial", "connect", syscall.EACCES), want: Unreachable},
		{name: "eacces on bind is local", err: opErr("dial", "bind", syscall.EACCES), want: Error},
		{name: "eperm on setsockopt is local", err: opErr("dial", "setsockopt", syscall.EPERM), want: Error},
		{name: "reset on read", err: opErr("read", "read", syscall.ECONNRESET), want: Reset},
		{name: "broken pipe on write", err: opErr("write", "write", syscall.EPIPE), want: Reset},
		{name: "aborted", err: opErr("read", "read", syscall.ECONNABORTED), want: Reset},
		{name: "bare errno", err: syscall.ECONNREFUSED, want: Refused},
		{name: "no ephemeral port", err: opErr("dial", "connect", syscall.EADDRNOTAVAIL), want: Error},
		{name: "too many files", err: opErr("dial", "socket", syscall.EMFILE), want: Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
