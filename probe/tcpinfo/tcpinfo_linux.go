//go:build linux

package tcpinfo

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// tcpiOptTimestamps is TCPI_OPT_TIMESTAMPS from linux/tcp.h.
const tcpiOptTimestamps = 1

func get(conn *net.TCPConn) (Info, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return Info{}, fmt.Errorf("tcp_info: %w", err)
	}
	var (
		ti     *unix.TCPInfo
		sysErr error
	)
	if err := rc.Control(func(fd uintptr) {
		ti, sysErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return Info{}, fmt.Errorf("tcp_info: %w", err)
	}
	if sysErr != nil {
		return Info{}, fmt.Errorf("getsockopt tcp_info: %w", sysErr)
	}
	return Info{
		MSS:         int(ti.Snd_mss),
		Timestamps:  ti.Options&tcpiOptTimestamps != 0,
		Retransmits: ti.Total_retrans,
		PathMTU:     int(ti.Pmtu),
		// tcpi_rtt is in microseconds. tcpi_retransmits would not do for SYNs:
		// the kernel clears it when the SYN-ACK acknowledges the SYN.
		RTT:            time.Duration(ti.Rtt) * time.Microsecond,
		SYNRetransmits: ti.Total_retrans,
		Unacked:        ti.Unacked,
	}, nil
}
