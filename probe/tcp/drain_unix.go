//go:build unix

package tcp

import (
	"errors"
	"net"
	"syscall"
)

// discardPending reads and drops whatever conn has already received, without
// blocking: Go's sockets are non-blocking, so read(2) returns EAGAIN once the
// receive queue is empty.
func discardPending(conn *net.TCPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var readErr error
	err = rc.Read(func(fd uintptr) bool {
		var buf [drainBufSize]byte
		for range drainMaxReads {
			n, err := syscall.Read(int(fd), buf[:])
			if err != nil {
				if !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR) {
					readErr = err
				}
				return true
			}
			if n == 0 { // the peer already sent its FIN
				return true
			}
		}
		return true // done either way: never wait for readability
	})
	if err != nil {
		return err
	}
	return readErr
}
