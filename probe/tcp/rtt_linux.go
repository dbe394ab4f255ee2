//go:build linux

package tcp

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// handshakeInfo reads TCP_INFO from a just-connected socket.
//
// tcpi_rtt (µs) is the smoothed RTT; with one sample it equals the SYN→SYN-ACK time.
// SYN retransmissions are counted from tcpi_total_retrans: the SYN-SENT retransmit
// timer goes through tcp_retransmit_skb like any other, so each resent SYN adds one,
// and nothing else can have been retransmitted on a connection that has sent no
// data. tcpi_retransmits is no use here: it counts the retransmissions of the
// segment currently outstanding and the kernel clears it when the SYN-ACK
// acknowledges the SYN (TestSYNRetransmitCounted shows both).
func handshakeInfo(conn *net.TCPConn) (kernelInfo, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return kernelInfo{}, fmt.Errorf("tcp_info: %w", err)
	}
	var (
		ti     *unix.TCPInfo
		sysErr error
	)
	if err := rc.Control(func(fd uintptr) {
		ti, sysErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return kernelInfo{}, fmt.Errorf("tcp_info: %w", err)
	}
	if sysErr != nil {
		return kernelInfo{}, fmt.Errorf("getsockopt tcp_info: %w", sysErr)
	}
	return kernelInfo{
		rtt:            time.Duration(ti.Rtt) * time.Microsecond,
		synRetransmits: ti.Total_retrans,
	}, nil
}
