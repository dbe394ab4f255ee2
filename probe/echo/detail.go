package echo

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/linkmesh/linkmesh/internal/seeding"
	"github.com/linkmesh/linkmesh/probe/pmtu"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// burstFigures is what the throughput burst did.
type burstFigures struct {
	skipped bool // not run: the connection carries a lost MTU test packet
	noTime  bool // not run: the attempt's deadline leaves no time for it
	sent    int64
	res     wire.BurstResult
	err     error
}

// describe builds a successful attempt's detail, the line a DBA or network
// engineer reads in the status page and the check report.
type describe struct {
	rounds    roundFigures
	loss      float64
	lossKnown bool
	mtu       *mtuFigures
	burst     *burstFigures
	who       string // what the hello proved, e.g. "responder mi1 proved the mesh key"
}

func (d describe) String() string {
	var b strings.Builder
	r := d.rounds
	fmt.Fprintf(&b, "%s; %d round trips: median %s (min %s, max %s), jitter %s",
		cmp.Or(d.who, "responder proved the mesh key"), r.n, ms(r.median), ms(r.min), ms(r.max), ms(r.jitter))
	if d.lossKnown {
		fmt.Fprintf(&b, ", packet loss ≈ %.0f %%", 100*d.loss)
	}
	if m := d.mtu; m != nil {
		b.WriteString("; ")
		b.WriteString(m.String())
	}
	if br := d.burst; br != nil {
		b.WriteString("; ")
		b.WriteString(br.String())
	}
	return b.String()
}

// String describes the MTU check, and for a black hole, the fix.
func (m mtuFigures) String() string {
	switch {
	case m.blackhole:
		bound := "exactly"
		if !m.exact {
			bound = "at least"
		}
		return fmt.Sprintf("PATH-MTU BLACK HOLE: %d-byte packets are dropped without an ICMP \"fragmentation needed\", "+
			"the largest that crosses is %s %d bytes; the TCP handshake works but replication stalls. "+
			"Lower the MTU of the VPN tunnel, or clamp the TCP MSS on the VPN device to %d (Azure VPN Gateway clamps at %d)",
			m.full, bound, m.mtu, pmtu.ClampMSS(m.mtu), pmtu.AzureVPNGatewayMSS)
	case m.mtu == 0:
		return m.note
	case m.icmp:
		return fmt.Sprintf("path MTU %d bytes (learned from ICMP; TCP adapts, no black hole)", m.mtu)
	case m.note != "":
		return fmt.Sprintf("path MTU %d bytes (%s)", m.mtu, m.note)
	}
	return fmt.Sprintf("path MTU %d bytes, no black hole", m.mtu)
}

// String describes the burst with the seeding estimate it implies.
func (br burstFigures) String() string {
	switch {
	case br.skipped:
		return "throughput burst skipped: full-size packets do not cross, so bulk transfers stall"
	case br.noTime:
		return "throughput burst skipped: no time left in the attempt (raise the rule's timeout above burst_time)"
	case br.err != nil:
		return fmt.Sprintf("throughput burst failed after %s: %v", mib(br.sent), br.err)
	}
	rate := br.res.Rate()
	s := fmt.Sprintf("burst of %s: %.1f Mbit/s", mib(br.sent), rate/1e6)
	if est := seeding.Describe(100*seeding.GB, rate); est != "" {
		s += " (" + est + ")"
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
