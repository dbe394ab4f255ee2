package tcp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// kernelInfo is what the platform's TCP stack says about a just-completed handshake.
type kernelInfo struct {
	// rtt is the kernel's smoothed RTT, which right after the handshake is its one
	// sample of the SYN→SYN-ACK exchange; zero when the kernel took no sample.
	rtt time.Duration
	// synRetransmits counts SYNs sent again before the SYN-ACK arrived.
	synRetransmits uint32
	// known: the platform reported these figures (zero values are real).
	known bool
}

// chooseRTT picks the figure Result.RTT reports and says where it came from.
//
// The kernel's figure is preferred: it is stamped in the stack when the SYN leaves
// and when the SYN-ACK arrives, so it carries none of the scheduler and syscall
// latency the user-space connect time does.
//
// After a lost SYN, Karn's rule forbids timing an exchange whose first packet was
// retransmitted, since the SYN-ACK cannot be matched to one SYN. Linux then takes a
// sample only from TCP timestamps: the SYN-ACK echoes the timestamp of the SYN that
// got through, so the sample is the true path RTT of that SYN, though only to a
// millisecond (a sub-millisecond path reads 1 ms). That is still the best RTT
// figure, and it is used. With timestamps off (or stripped by a middlebox) the kernel
// has no sample at all (tcpi_rtt is 0), and the only figure left is the connect
// time, which then includes the retransmission timeout (≈1 s per lost SYN on Linux,
// ≈3 s on Windows). It is reported as RTTConnect rather than dropped: it is what
// an application connecting over this path experiences, the step is the loss signal
// Pingmesh reads, and SYNRetransmits > 0 tells consumers to keep it out of path-RTT
// statistics.
//
// A kernel figure larger than the connect time that wraps it cannot be a sample of
// this handshake (it would be a cached or initial estimate) and is ignored.
func chooseRTT(connectTime time.Duration, k kernelInfo) (time.Duration, attempt.RTTSource) {
	if k.rtt > 0 && k.rtt <= connectTime {
		return k.rtt, attempt.RTTKernel
	}
	return connectTime, attempt.RTTConnect
}

// okDetail describes a successful attempt, e.g.
// "connected in 0.21 ms (kernel rtt 0.05 ms)". The dialed address is named when the
// target was a host name, so the log shows which address answered.
func okDetail(raddr netip.AddrPort, target string, connectTime time.Duration, k kernelInfo, src attempt.RTTSource) string {
	var b strings.Builder
	b.WriteString("connected")
	if host, _, err := net.SplitHostPort(target); err == nil && host != raddr.Addr().String() {
		fmt.Fprintf(&b, " to %s", raddr)
	}
	fmt.Fprintf(&b, " in %s", millis(connectTime))
	if src == attempt.RTTKernel {
		fmt.Fprintf(&b, " (kernel rtt %s)", millis(k.rtt))
	}
	switch k.synRetransmits {
	case 0:
	case 1:
		b.WriteString(" after 1 SYN retransmit")
	default:
		fmt.Fprintf(&b, " after %d SYN retransmits", k.synRetransmits)
	}
	return b.String()
}

// millis formats d in milliseconds with two decimals, the unit operators read RTTs in.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
