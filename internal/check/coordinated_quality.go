package check

import (
	"fmt"
	"strings"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/pmtu"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// direction is what a round's echo target found about the path MTU one way.
type direction struct {
	from, to  string
	measured  bool
	mtu       uint32 // the largest packet that crossed
	blackhole bool
	why       string // why it was not measured
}

func (d direction) String() string {
	switch {
	case !d.measured:
		return fmt.Sprintf("%s → %s: not measured", d.from, d.to)
	case d.blackhole:
		return fmt.Sprintf("%s → %s: black hole above %d bytes", d.from, d.to, d.mtu)
	default:
		return fmt.Sprintf("%s → %s: %d bytes", d.from, d.to, d.mtu)
	}
}

// mtuOf reads one echo target: a black hole in any attempt counts (the lowest
// one), else the largest MTU an attempt saw.
func mtuOf(t *linkmeshv1.CheckTarget, from, to string) direction {
	d := direction{from: from, to: to}
	if t == nil {
		d.why = fmt.Sprintf("the round had no echo from %s to %s (no responder address)", from, to)
		return d
	}
	for _, r := range t.GetResults() {
		m := r.GetMtuBytes()
		if attempt.CodeOf(r.GetCode()) != attempt.OK || m == 0 {
			continue
		}
		switch {
		case r.GetMtuBlackhole() && (!d.blackhole || m < d.mtu):
			d.measured, d.blackhole, d.mtu = true, true, m
		case !d.blackhole && m > d.mtu:
			d.measured, d.mtu = true, m
		}
	}
	if !d.measured {
		tl := count(t)
		switch {
		case tl.n == 0:
			d.why = fmt.Sprintf("%s reported no echo result", from)
		case tl.lastBad != nil:
			d.why = fmt.Sprintf("echo from %s to %s's responder at %s failed (%s: %s)", from, to, dest(t), tl.worst, tl.lastBad.GetDetail())
		default:
			d.why = fmt.Sprintf("echo from %s to %s gave no MTU figure", from, to)
		}
	}
	return d
}

// mtuOutcome judges MTU: full-size packets cross between the sites both ways.
func (r *Round) mtuOutcome(rd *linkmeshv1.CheckRound) Outcome {
	probe, peer := rd.GetProbe().GetName(), rd.GetPeer().GetName()
	dirs := []direction{
		mtuOf(targetOf(rd, vocab.RoleEchoToPeer), probe, peer),
		mtuOf(targetOf(rd, vocab.RoleEchoFromPeer), peer, probe),
	}
	var seen []string
	var holes, unknown []direction
	for _, d := range dirs {
		seen = append(seen, d.String())
		switch {
		case d.blackhole:
			holes = append(holes, d)
		case !d.measured:
			unknown = append(unknown, d)
		}
	}
	o := Outcome{Measured: strings.Join(seen, "; ")}
	switch {
	case len(holes) > 0:
		lowest := holes[0].mtu
		for _, d := range holes {
			lowest = min(lowest, d.mtu)
		}
		o.Status = Fail
		o.Reason = fmt.Sprintf("packets larger than %d bytes are dropped between the sites with no ICMP \"fragmentation needed\" (a path-MTU black hole): TCP handshakes pass, but bulk replication and seeding stall", lowest)
		o.Fix = mtuFix(lowest)
	// Not measured is not a pass: a skip, so the verdict is PARTIAL (never
	// READY) while a direction is unknown.
	case len(unknown) == len(dirs):
		o.Status = Skip
		o.Reason = "could not measure the path MTU: " + unknown[0].why + "; " + unknown[1].why + ". The probes' responder port must be open between the sites for this row"
	case len(unknown) > 0:
		o.Status = Skip
		o.Reason = fmt.Sprintf("no black hole one way, but could not measure the other: %s", unknown[0].why)
	default:
		o.Status = Pass
		o.Reason = "full-size packets with don't-fragment crossed between the probes both ways: no path-MTU black hole"
	}
	return o
}

// mtuFix is the network team's fix for a black hole above mtu bytes.
func mtuFix(mtu uint32) *Fix {
	mss := pmtu.ClampMSS(int(mtu))
	return &Fix{For: ForNetwork,
		Summary: fmt.Sprintf("A device on the path between the sites (usually the VPN) drops packets above %d bytes and sends no ICMP \"fragmentation needed\".", mtu),
		Steps: []Step{
			{Text: fmt.Sprintf("Clamp the TCP MSS to %d on the on-premises VPN device or router, for traffic to and from the MI's VNet (Azure VPN Gateway clamps at %d; the device at the other end must too). On a Linux router:", mss, pmtu.AzureVPNGatewayMSS),
				Command: fmt.Sprintf("iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss %d", mss), Shell: ShellSh},
			{Text: fmt.Sprintf("Or lower the MTU of the VPN tunnel interface to %d or less (Azure recommends 1400 on VPN tunnels).", min(1400, mtu))},
			{Text: "Let ICMP type 3 code 4 (\"fragmentation needed\") through every firewall on the path, so path-MTU discovery works."},
			{Text: "As a stopgap on the SQL Server host only (PowerShell as administrator; the MI side still needs the clamp):",
				Command: fmt.Sprintf(`netsh interface ipv4 set subinterface "<interface>" mtu=%d store=persistent`, min(1400, mtu)), Shell: ShellPowerShell},
		}}
}

// throughput is the highest burst throughput a target measured, and why there
// is none.
func throughput(t *linkmeshv1.CheckTarget) (float64, string) {
	if t == nil {
		return 0, "the round had no echo to the peer's responder"
	}
	var best float64
	var why string
	for _, r := range t.GetResults() {
		if bps := r.GetThroughputBitsPerSecond(); bps > best {
			best = bps
		}
		why = r.GetDetail()
	}
	if why == "" {
		why = "no result arrived"
	}
	return best, why
}

// bwOutcome judges BW: what the burst measured, and the seeding time it gives.
func (r *Round) bwOutcome(rd *linkmeshv1.CheckRound) Outcome {
	t := targetOf(rd, vocab.RoleEchoToPeer)
	bps, why := throughput(t)
	from, to := rd.GetProbe().GetName(), rd.GetPeer().GetName()
	if bps <= 0 {
		return Outcome{Status: Warn, Measured: "not measured",
			Reason: fmt.Sprintf("the burst from %s to %s measured nothing: %s", from, to, why)}
	}
	s := EstimateSeeding(r.co.DatabaseSize, bps)
	o := Outcome{Status: Pass, Measured: fmt.Sprintf("%s (%s → %s)", formatRate(bps), from, to),
		Reason: fmt.Sprintf("a burst of up to %d MiB from %s to %s, the direction seeding flows: %s", BurstBytes>>20, from, to, s.Note)}
	if s.Estimate > seedingLimit {
		o.Status = Warn
		o.Fix = &Fix{For: ForNetwork, Summary: "Seeding would take longer than the 6 days after which it is cancelled.",
			Steps: []Step{
				{Text: "Raise the bandwidth between the sites (ExpressRoute or a larger VPN gateway SKU) for the seeding."},
				{Text: "Enable seeding compression on SQL Server (trace flag 9567) until seeding ends:", Command: "DBCC TRACEON (9567, -1);", Shell: ShellTSQL},
				{Text: "Seed fewer databases at a time."},
			}}
	}
	return o
}
