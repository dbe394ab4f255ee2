//go:build windows

package tcp

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioTCPInfo is SIO_TCP_INFO from mstcpip.h: _WSAIORW(IOC_VENDOR, 39) = 0xd8000027.
// x/sys/windows does not define it.
const sioTCPInfo = windows.IOC_INOUT | windows.IOC_VENDOR | 39

// tcpInfoV0 mirrors TCP_INFO_v0 from mstcpip.h (Windows 10 1703, Windows Server 2016
// and later). Go's natural alignment gives the C layout on 386, amd64 and arm64;
// the constants below fail to compile if the size or the offsets read here drift.
type tcpInfoV0 struct {
	State             int32 // TCPSTATE
	Mss               uint32
	ConnectionTimeMs  uint64
	TimestampsEnabled uint8 // BOOLEAN
	RttUs             uint32
	MinRttUs          uint32
	BytesInFlight     uint32
	Cwnd              uint32
	SndWnd            uint32
	RcvWnd            uint32
	RcvBuf            uint32
	BytesOut          uint64
	BytesIn           uint64
	BytesReordered    uint32
	BytesRetrans      uint32
	FastRetrans       uint32
	DupAcksIn         uint32
	TimeoutEpisodes   uint32
	SynRetrans        uint8
}

// Layout checks: each constant overflows uint (a compile error) unless it is zero.
const (
	_ = uint(unsafe.Sizeof(tcpInfoV0{}) - 88)
	_ = uint(88 - unsafe.Sizeof(tcpInfoV0{}))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.RttUs) - 20)
	_ = uint(20 - unsafe.Offsetof(tcpInfoV0{}.RttUs))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.SynRetrans) - 84)
	_ = uint(84 - unsafe.Offsetof(tcpInfoV0{}.SynRetrans))
)

// handshakeInfo asks Winsock for TCP_INFO_v0 on a just-connected socket: RttUs is the
// RTT estimate in µs (from the SYN exchange right after connect) and SynRetrans the
// number of SYNs retransmitted. Older Windows versions fail the ioctl (WSAEINVAL or
// WSAEOPNOTSUPP); the caller then falls back to the connect time.
func handshakeInfo(conn *net.TCPConn) (kernelInfo, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return kernelInfo{}, fmt.Errorf("sio_tcp_info: %w", err)
	}
	var (
		info  tcpInfoV0
		ioErr error
		got   uint32
	)
	version := uint32(0) // input buffer: the structure version wanted
	if err := rc.Control(func(fd uintptr) {
		ioErr = windows.WSAIoctl(windows.Handle(fd), sioTCPInfo,
			(*byte)(unsafe.Pointer(&version)), uint32(unsafe.Sizeof(version)),
			(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)),
			&got, nil, 0)
	}); err != nil {
		return kernelInfo{}, fmt.Errorf("sio_tcp_info: %w", err)
	}
	if ioErr != nil {
		return kernelInfo{}, fmt.Errorf("wsaioctl sio_tcp_info: %w", ioErr)
	}
	if got < uint32(unsafe.Offsetof(info.SynRetrans))+1 {
		return kernelInfo{}, fmt.Errorf("wsaioctl sio_tcp_info: short answer, %d bytes", got)
	}
	return kernelInfo{
		rtt:            time.Duration(info.RttUs) * time.Microsecond,
		synRetransmits: uint32(info.SynRetrans),
	}, nil
}
