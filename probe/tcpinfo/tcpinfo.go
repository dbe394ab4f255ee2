// Package tcpinfo reads what the kernel knows about one TCP connection: the
// segment size in use, whether TCP timestamps are on, how many segments it
// had to retransmit, and the path MTU it believes in. The echo kind uses it to
// size path-MTU test packets and to count loss; the responder uses it to tell
// the echo client about losses on the way back.
//
// Linux reads TCP_INFO; Windows reads SIO_TCP_INFO (TCP_INFO_v0, Windows 10
// 1703 and later) and IP_MTU; elsewhere nothing is known and Get says so.
package tcpinfo

import (
	"errors"
	"net"
	"time"
)

// Info is the kernel's view of a connection. Zero fields are unknown.
type Info struct {
	// MSS is the data carried by one full segment (timestamp options already
	// taken off on Linux).
	MSS int
	// Timestamps: the TCP timestamps option is in use, 12 bytes per segment.
	Timestamps bool
	// Retransmits counts segments sent again since the connection opened,
	// SYNs included (Windows: retransmitted bytes / MSS rounded up, or the
	// fast-retransmit and timeout episodes when they are more, so that every
	// retransmission of a small segment raises it).
	Retransmits uint32
	// PathMTU is the largest IP packet the kernel believes the path carries,
	// from the route and any ICMP "fragmentation needed" it received.
	PathMTU int
	// RTT is the kernel's smoothed round-trip estimate; right after connect it
	// is the handshake's own sample (Linux tcpi_rtt, Windows RttUs).
	RTT time.Duration
	// SYNRetransmits counts SYNs sent again before the handshake completed
	// (Linux: tcpi_total_retrans, which on a connection that has sent no data
	// can only count SYNs; Windows: SynRetrans).
	SYNRetransmits uint32
	// Unacked is what this end has sent that the far end's kernel has not
	// acknowledged yet: segments on Linux (tcpi_unacked), bytes on Windows
	// (BytesInFlight). Only its zeroness means the same everywhere: 0 is
	// "everything sent has been acknowledged".
	Unacked uint32
}

// ErrUnsupported: this platform does not expose connection details.
var ErrUnsupported = errors.New("tcp connection details are not available on this platform")

// Get returns the kernel's view of conn.
func Get(conn *net.TCPConn) (Info, error) {
	return get(conn)
}

// Overhead is the bytes a full-size packet of conn carries besides data: the
// IP header (20 for IPv4, 40 for IPv6), the TCP header (20) and the timestamp
// option (12) when in use.
func Overhead(conn *net.TCPConn, timestamps bool) int {
	n := 20 + 20
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		n = 40 + 20
	}
	if timestamps {
		n += 12
	}
	return n
}
