//go:build windows

package attempt

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// connectSyscalls names the system calls, as recorded in *os.SyscallError, that Go's
// net package reports connect failures under on Windows (it connects with ConnectEx).
var connectSyscalls = [...]string{"connectex", "connect"}

// errnoCode maps a Winsock (WSAE*) or Win32 error to a Code. Go on Windows returns
// syscall.Errno values equal to the WSA codes inside *os.SyscallError inside
// *net.OpError; the ERROR_* equivalents are what GetOverlappedResult reports for the
// same conditions, and older Go versions surfaced those. connect says whether it came
// from connect/ConnectEx; ok is false for errors with no specific meaning here.
func errnoCode(errno syscall.Errno, connect bool) (c Code, ok bool) {
	switch errno {
	case windows.WSAECONNREFUSED, windows.ERROR_CONNECTION_REFUSED, windows.ERROR_PORT_UNREACHABLE:
		return Refused, true
	case windows.WSAETIMEDOUT, windows.ERROR_SEM_TIMEOUT:
		return Timeout, true
	case windows.WSAEHOSTUNREACH, windows.WSAENETUNREACH, windows.WSAENETDOWN, windows.WSAEHOSTDOWN,
		windows.ERROR_HOST_UNREACHABLE, windows.ERROR_NETWORK_UNREACHABLE:
		return Unreachable, true
	case windows.WSAEACCES:
		// Windows Filtering Platform (Windows Firewall outbound block) fails the
		// connect with WSAEACCES; elsewhere (bind) it is a local error.
		if connect {
			return Unreachable, true
		}
		return 0, false
	case windows.WSAECONNRESET, windows.WSAECONNABORTED, windows.ERROR_NETNAME_DELETED,
		windows.ERROR_CONNECTION_ABORTED:
		return Reset, true
	default:
		return 0, false
	}
}
