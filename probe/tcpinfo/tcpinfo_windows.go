//go:build windows

package tcpinfo

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sioTCPInfo is SIO_TCP_INFO from mstcpip.h: _WSAIORW(IOC_VENDOR, 39).
const sioTCPInfo = windows.IOC_INOUT | windows.IOC_VENDOR | 39

// ipMTU and ipv6MTU are IP_MTU and IPV6_MTU from ws2ipdef.h (getsockopt on a
// connected socket, Windows 10 and later).
const (
	ipMTU   = 73
	ipv6MTU = 72
)

// tcpInfoV0 mirrors TCP_INFO_v0 from mstcpip.h (Windows 10 1703, Windows Server
// 2016 and later). Go's natural alignment gives the C layout on 386, amd64 and
// arm64; the constants below fail to compile if the size or offsets drift.
type tcpInfoV0 struct {
	State             int32
	Mss               uint32
	ConnectionTimeMs  uint64
	TimestampsEnabled uint8
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
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.BytesRetrans) - 68)
	_ = uint(68 - unsafe.Offsetof(tcpInfoV0{}.BytesRetrans))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.RttUs) - 20)
	_ = uint(20 - unsafe.Offsetof(tcpInfoV0{}.RttUs))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.TimeoutEpisodes) - 80)
	_ = uint(80 - unsafe.Offsetof(tcpInfoV0{}.TimeoutEpisodes))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.BytesInFlight) - 28)
	_ = uint(28 - unsafe.Offsetof(tcpInfoV0{}.BytesInFlight))
	_ = uint(unsafe.Offsetof(tcpInfoV0{}.SynRetrans) - 84)
	_ = uint(84 - unsafe.Offsetof(tcpInfoV0{}.SynRetrans))
)

func get(conn *net.TCPConn) (Info, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return Info{}, fmt.Errorf("sio_tcp_info: %w", err)
	}
	var (
		info    tcpInfoV0
		ioErr   error
		got     uint32
		mtu     int
		mtuErr  error
		version uint32
	)
	v6 := false
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	if err := rc.Control(func(fd uintptr) {
		ioErr = windows.WSAIoctl(windows.Handle(fd), sioTCPInfo,
			(*byte)(unsafe.Pointer(&version)), uint32(unsafe.Sizeof(version)),
			(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)),
			&got, nil, 0)
		if v6 {
			mtu, mtuErr = windows.GetsockoptInt(windows.Handle(fd), windows.IPPROTO_IPV6, ipv6MTU)
		} else {
			mtu, mtuErr = windows.GetsockoptInt(windows.Handle(fd), windows.IPPROTO_IP, ipMTU)
		}
	}); err != nil {
		return Info{}, fmt.Errorf("sio_tcp_info: %w", err)
	}
	if ioErr != nil {
		return Info{}, fmt.Errorf("wsaioctl sio_tcp_info: %w", ioErr)
	}
	if got < uint32(unsafe.Offsetof(info.BytesRetrans))+4 {
		return Info{}, fmt.Errorf("wsaioctl sio_tcp_info: short answer, %d bytes", got)
	}
	out := Info{MSS: int(info.Mss), Timestamps: info.TimestampsEnabled != 0,
		RTT: time.Duration(info.RttUs) * time.Microsecond, Unacked: info.BytesInFlight}
	if got >= uint32(unsafe.Offsetof(info.SynRetrans))+1 {
		out.SYNRetransmits = uint32(info.SynRetrans)
	}
	// SYNs included, as on Linux (data bytes never count a SYN; a timeout
	// episode may, which only makes the count larger, never hides a resend).
	out.Retransmits = windowsRetransmits(info) + out.SYNRetransmits
	if mtuErr == nil && mtu > 0 {
		out.PathMTU = mtu
	}
	return out, nil
}

// windowsRetransmits turns TCP_INFO_v0's byte count into segments. Bytes / MSS
// rounded up undercounts small segments (two resent 70-byte echoes are 140
// bytes: "1"), so the count of fast retransmits plus timeout episodes (each
// resent at least one segment) is taken when it is larger; either only grows.
func windowsRetransmits(info tcpInfoV0) uint32 {
	var n uint32
	if info.Mss > 0 {
		n = (info.BytesRetrans + info.Mss - 1) / info.Mss
	}
	return max(n, info.FastRetrans+info.TimeoutEpisodes)
}
