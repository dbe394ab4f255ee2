//go:build windows

package tcp

import (
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// fionread is FIONREAD from winsock2.h: _IOR('f', 127, u_long), the number of bytes
// that can be read without blocking.
const fionread = 0x4004667f

// discardPending reads and drops whatever conn has already received. Go's sockets on
// Windows are overlapped, so a plain recv would block; FIONREAD says how much is
// there and only that much is read.
func discardPending(conn *net.TCPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		s := windows.Handle(fd)
		var buf [drainBufSize]byte
		for range drainMaxReads {
			var avail, n uint32
			if ioErr = windows.WSAIoctl(s, fionread, nil, 0, (*byte)(unsafe.Pointer(&avail)), uint32(unsafe.Sizeof(avail)), &n, nil, 0); ioErr != nil || avail == 0 {
				return
			}
			want := min(avail, uint32(len(buf)))
			wsaBuf := windows.WSABuf{Len: want, Buf: &buf[0]}
			var got, flags uint32
			if ioErr = windows.WSARecv(s, &wsaBuf, 1, &got, &flags, nil, nil); ioErr != nil || got == 0 {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}
