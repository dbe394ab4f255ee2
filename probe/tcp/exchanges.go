package tcp

import (
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// The kernels' SYN retransmission schedules: when, counted from the first SYN,
// each SYN of a connect leaves. Linux starts at 1 s and doubles
// (tcp_syn_retries 6: 0, 1, 3, 7, 15, 31, 63 s); Windows starts at 3 s and
// doubles, two retransmissions by default (0, 3, 9 s).
var (
	linuxSYNs   = []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second, 63 * time.Second}
	windowsSYNs = []time.Duration{0, 3 * time.Second, 9 * time.Second}
)

// SYNSchedule returns the SYN schedule of the platform goos ("linux",
// "windows"; others are taken to follow Linux's RFC 6298 schedule). Its
// second entry is the first retransmission: a connect that takes that long
// lost its first SYN exchange, and a timeout shorter than it never sees a SYN
// retransmission (coordinator/config warns about such rules).
func SYNSchedule(goos string) []time.Duration {
	if goos == "windows" {
		return slices.Clone(windowsSYNs)
	}
	return slices.Clone(linuxSYNs)
}

// countHandshake sets res's exchanges from a connect that took elapsed. The
// handshake counts as one exchange, the first SYN and its SYN-ACK, lost when
// the kernel had to resend the SYN (k, the kernel's figure), when the connect
// took as long as the platform's first SYN retransmission (the far end's own
// SYN-ACK retransmission can beat the kernel's timer, leaving it at 0), or
// when the connect timed out. A refused connect's RST is an answer. Other
// failures say nothing about loss.
//
// Only the first SYN is a clean trial: after a lost SYN-ACK the far end
// resends its SYN-ACK as the kernel resends the SYN, so later SYNs succeed
// more often than the path's loss implies (counting them read 0.25 at a true
// 0.30 in the lab; docs/benchmarks.md).
func countHandshake(res *attempt.Result, elapsed time.Duration, k kernelInfo) {
	firstRetransmit := SYNSchedule(runtime.GOOS)[1]
	slow := elapsed >= firstRetransmit*9/10
	switch res.Code {
	case attempt.OK:
		res.Exchanges = 1
		if k.synRetransmits > 0 || slow {
			res.ExchangesLost = 1
		}
	case attempt.Refused:
		res.Exchanges = 1
		if slow {
			res.ExchangesLost = 1
		}
	case attempt.Timeout:
		res.Exchanges, res.ExchangesLost = 1, 1
	}
}

// PacketLoss estimates per-packet loss from exchanges of which lost lost a
// packet: an exchange succeeds when both its packet and the answer cross,
// with probability (1-p)², so p = 1 - √(succeeded/exchanges). It assumes the
// same loss both ways. The echo kind reports it per attempt; the coordinator
// computes the same over its window.
func PacketLoss(exchanges, lost uint32) float64 {
	if exchanges == 0 {
		return 0
	}
	return 1 - math.Sqrt(float64(exchanges-min(lost, exchanges))/float64(exchanges))
}
