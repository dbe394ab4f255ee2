package attempt

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/linkmesh/linkmesh/internal/explain"
)

// Classify maps an error returned while resolving, dialing, reading or writing to
// the Code that names it. Probe kinds call it on every failed step so that the same
// errno means the same result everywhere. It looks only at error types and errno
// values, never at error text, so it does not depend on the OS language or on how Go
// words its messages.
//
// Order matters: a *net.DNSError is DNS even when it is a timeout; an errno wins over
// the generic timeout check so that, say, ECONNREFUSED is never mistaken for one.
func Classify(err error) Code {
	if err == nil {
		return OK
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return DNS
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if c, ok := errnoCode(errno, duringConnect(err)); ok {
			return c
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Timeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return Timeout
	}
	return Error
}

// duringConnect reports whether err came from the connect system call itself (as
// opposed to, say, bind or setsockopt during the same dial). EACCES and EPERM mean
// "a firewall on this host rejected it" only there.
func duringConnect(err error) bool {
	var sysErr *os.SyscallError
	if !errors.As(err, &sysErr) {
		return false
	}
	for _, name := range connectSyscalls {
		if sysErr.Syscall == name {
			return true
		}
	}
	return false
}

// Explain returns a short human explanation of what c means for a network path, for
// reports and the status page. It says what most likely happened, not how to fix it.
// The text lives in internal/explain, which the coordinator's API reads too.
func (c Code) Explain() string {
	return explain.Result(c.Proto())
}
