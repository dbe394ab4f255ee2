//go:build !windows

package attempt

import "syscall"

// connectSyscalls names the system calls, as recorded in *os.SyscallError, that Go's
// net package reports connect failures under on this platform.
var connectSyscalls = [...]string{"connect"}

// errnoCode maps a Unix errno to a Code. connect says whether it came from connect(2);
// ok is false for errnos with no specific meaning here.
func errnoCode(errno syscall.Errno, connect bool) (c Code, ok bool) {
	switch errno {
	case syscall.ECONNREFUSED:
		return Refused, true
	case syscall.ETIMEDOUT:
		return Timeout, true
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN:
		return Unreachable, true
	case syscall.EACCES, syscall.EPERM:
		// Linux returns EPERM from connect when a local netfilter rule (iptables
		// REJECT or DROP in OUTPUT) refuses the SYN; EACCES comes from LSMs and
		// some BSD firewalls. Elsewhere (bind to a low port, say) it is a local error.
		if connect {
			return Unreachable, true
		}
		return 0, false
	case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
		return Reset, true
	default:
		return 0, false
	}
}
