package check

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// ForOperator is Fix.For when whoever runs linkmesh can fix it (a probe down).
const ForOperator = "linkmesh operator"

// tally is what a target's attempts found.
type tally struct {
	n, ok   int
	worst   attempt.Code // the most frequent failing code
	failed  int          // attempts that failed
	lastBad *linkmeshv1.Result
	rtts    []time.Duration
}

func count(t *linkmeshv1.CheckTarget) tally {
	var tl tally
	by := map[attempt.Code]int{}
	for _, r := range t.GetResults() {
		tl.n++
		c := attempt.CodeOf(r.GetCode())
		if c == attempt.OK {
			tl.ok++
			if r.GetRtt() != nil {
				tl.rtts = append(tl.rtts, r.GetRtt().AsDuration())
			}
			continue
		}
		tl.failed++
		by[c]++
		tl.lastBad = r
		if by[c] > by[tl.worst] || tl.worst == 0 {
			tl.worst = c
		}
	}
	return tl
}

// median RTT of the attempts that succeeded ("" when none).
func (tl tally) median() string {
	if len(tl.rtts) == 0 {
		return ""
	}
	s := slices.Clone(tl.rtts)
	slices.Sort(s)
	return roundDuration(s[len(s)/2])
}

// dest renders a target's destination "host:port".
func dest(t *linkmeshv1.CheckTarget) string {
	tg := t.GetTarget()
	return net.JoinHostPort(tg.GetHost(), fmt.Sprint(tg.GetPort()))
}

// notRun is the outcome of a row whose target ran no attempt in the round.
func notRun(rd *linkmeshv1.CheckRound, t *linkmeshv1.CheckTarget, what string) Outcome {
	who := t.GetSource()
	return Outcome{Status: Fail, Measured: "no result",
		Reason: fmt.Sprintf("%s reported no result for %s within the round: it did not run the attempts (another coordinator's plan may have replaced the round's, or the probe is overloaded)", who, what),
		Fix: &Fix{For: ForOperator, Summary: fmt.Sprintf("Probe %s did not measure %s.", who, what),
			Steps: []Step{{Text: fmt.Sprintf("Check that probe %s runs and reports to this coordinator (its /api/v1/paths shows it), then run the check again (round %s).", who, rd.GetId())}}}}
}

// sqlAddr is the SQL Server host's address as the MI dials it: the round's
// sql_host when it is an address, else the first address D2 resolved.
func sqlAddr(rd *linkmeshv1.CheckRound) netip.Addr {
	if a, err := netip.ParseAddr(rd.GetSqlHost()); err == nil {
		return a.Unmap()
	}
	for _, r := range targetOf(rd, vocab.RoleD2).GetResults() {
		for _, s := range r.GetAddresses() {
			if a, err := netip.ParseAddr(s); err == nil {
				return a.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// servedByStandIn says whether P3 went to the round's stand-in.
func servedByStandIn(t *linkmeshv1.CheckTarget) bool {
	return t.GetTarget().GetKind() == linkmeshv1.Kind_KIND_ECHO
}

// p3Outcome judges P3: the MI's VNet reaches SQL Server's endpoint (or the
// stand-in in its place).
func (r *Round) p3Outcome(rd *linkmeshv1.CheckRound) Outcome {
	t := targetOf(rd, vocab.RoleP3)
	if t == nil {
		return Outcome{Status: Fail, Reason: "the round has no P3 target: the coordinator may be of an older linkmesh; upgrade it"}
	}
	tl := count(t)
	if tl.n == 0 {
		return notRun(rd, t, "P3")
	}
	from, to, port := t.GetSource(), dest(t), uint16(t.GetTarget().GetPort())
	if tl.failed == 0 {
		o := Outcome{Status: Pass, Result: attempt.OK.String()}
		if servedByStandIn(t) {
			o.Measured = fmt.Sprintf("%d/%d echo through the stand-in, %s median RTT", tl.ok, tl.n, tl.median())
			o.Reason = fmt.Sprintf("%s (in the MI's VNet) reached %s and exchanged an authenticated hello with the stand-in there: the path is open end to end, not just to a device answering for the host", from, to)
		} else {
			o.Measured = fmt.Sprintf("%d/%d connected, %s median RTT", tl.ok, tl.n, tl.median())
			o.Reason = fmt.Sprintf("%s (in the MI's VNet) completed the TCP handshake with %s (a connect cannot tell SQL Server's endpoint from a device answering for the host)", from, to)
		}
		return o
	}
	o := Outcome{Status: Fail, Result: tl.worst.String(),
		Measured: fmt.Sprintf("%s on %d of %d attempts", tl.worst, tl.failed, tl.n)}
	flaky := ""
	if tl.ok > 0 {
		flaky = fmt.Sprintf(" (%d of %d attempts got through: the path is unreliable)", tl.ok, tl.n)
	}
	switch tl.worst {
	case attempt.Timeout, attempt.Unreachable:
		what := "nothing answered"
		if tl.worst == attempt.Unreachable {
			what = "a router or firewall reported the host unreachable or prohibited"
		}
		o.Reason = fmt.Sprintf("from %s to %s %s%s: the SQL Server host's firewall, an on-premises firewall, or the MI subnet's outbound rules stop TCP %d", from, to, what, flaky, port)
		o.Fix = P3Fix(sqlAddr(rd), r.subnet, port)
	case attempt.Refused:
		o.Reason = fmt.Sprintf("%s reached %s, which answered with a reset%s: nothing listens on %d at the address the MI uses", from, to, flaky, port)
		steps := createEndpoint(port)
		if st := rd.GetStandIn(); st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN {
			o.Reason += fmt.Sprintf(", although port %d is in use on %s: the endpoint may listen on one address only (LISTENER_IP), or %s is not the SQL Server host as the MI reaches it (NAT; give --sql-host)", port, rd.GetProbe().GetName(), rd.GetSqlHost())
			steps = []Step{{Text: "Make the endpoint listen on all addresses (LISTENER_IP = ALL), and give linkmesh check the address the MI reaches the SQL Server host at with --sql-host.",
				Command: fmt.Sprintf("ALTER ENDPOINT [<endpoint-name>] AS TCP (LISTENER_PORT = %d, LISTENER_IP = ALL);", port), Shell: ShellTSQL}}
		}
		o.Fix = &Fix{For: ForDBA, Summary: fmt.Sprintf("SQL Server is not listening on %d where the MI connects.", port), Steps: steps}
	case attempt.Mismatch:
		o.Reason = fmt.Sprintf("something at %s completed the connection but is not the stand-in%s: a firewall, proxy or NAT device answers in the SQL Server host's place, or %s is another host", to, flaky, rd.GetSqlHost())
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("A device between the MI's VNet and the SQL Server host answers TCP %d itself.", port),
			Steps: []Step{{Text: fmt.Sprintf("Find the device that answers for %s (a firewall with a TCP proxy, a load balancer, a NAT rule) and let TCP %d through to the SQL Server host unchanged.", to, port)}}}
	case attempt.Reset:
		o.Reason = fmt.Sprintf("connections from %s to %s were accepted and then reset%s: a firewall or intrusion-prevention system that inspects traffic cuts them", from, to, flaky)
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("Something between the MI's VNet and the SQL Server host resets TCP %d connections.", port),
			Steps: []Step{{Text: fmt.Sprintf("Exempt TCP %d between the MI subnet and the SQL Server host from inspection (the mirroring protocol is proprietary and encrypted; inspecting firewalls often break it).", port)}}}
	default:
		o.Reason = fmt.Sprintf("%s%s: %s", tl.worst.Explain(), flaky, tl.lastBad.GetDetail())
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("The connection from %s to %s failed: %s.", from, to, tl.lastBad.GetDetail()),
			Steps: []Step{{Text: "Look in the logs of the firewalls between the MI's VNet and the SQL Server host for this connection."}}}
	}
	return o
}

// standInOutcome judges the stand-in row: whether the round proved P3 through
// a stand-in, and what that means for SQL Server's own endpoint.
func (r *Round) standInOutcome(rd *linkmeshv1.CheckRound) Outcome {
	st, probe := rd.GetStandIn(), rd.GetProbe().GetName()
	port := r.port
	if p := rd.GetSqlPort(); p > 0 && p <= 65535 {
		port = uint16(p)
	}
	released := ""
	if !rd.GetStandInReleased() {
		released = fmt.Sprintf(" (%s had not yet reported releasing it when the round ended; it does within the round's time at the latest)", probe)
	}
	switch st.GetState() {
	case linkmeshv1.StandInState_STAND_IN_STATE_SERVING, linkmeshv1.StandInState_STAND_IN_STATE_ENDED:
		o := Outcome{Status: Warn, Measured: "used, then released" + released,
			Reason: fmt.Sprintf("port %d was free on %s, so the probe answered there for SQL Server during the round: the network path is proven, but SQL Server has no endpoint on %d yet; create it before creating the link", port, probe, port)}
		if r.ep.Status == Fail {
			o.Reason += " (EP's fix says how)"
		} else {
			o.Fix = &Fix{For: ForDBA, Summary: fmt.Sprintf("SQL Server's mirroring endpoint does not exist yet (nothing listened on %d).", port), Steps: createEndpoint(port)}
		}
		return o
	case linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN:
		o := Outcome{Status: Pass, Measured: "not used: port taken",
			Reason: fmt.Sprintf("stand-in not used: port %d is in use on %s", port, probe)}
		if r.ep.Status == Pass {
			o.Reason += " by SQL Server's endpoint (EP), so P3 connected to it with TCP"
		} else {
			o.Status = Warn
			o.Reason += fmt.Sprintf(" by a program that is not SQL Server's endpoint as EP sees it, so P3 connected to that program with TCP; find what holds the port (Get-NetTCPConnection -LocalPort %d -State Listen)", port)
		}
		return o
	case linkmeshv1.StandInState_STAND_IN_STATE_FAILED:
		return Outcome{Status: Warn, Measured: "could not start",
			Reason: fmt.Sprintf("the stand-in could not start on %s: %s; P3 connected with TCP instead", probe, st.GetDetail())}
	}
	return Outcome{Status: Warn, Measured: "no answer",
		Reason: fmt.Sprintf("%s did not report on the stand-in during the round (an older linkmesh, or its reports are late); P3 connected with TCP instead", probe)}
}

// d2Outcome judges D2: the MI's VNet resolves the SQL Server host's name.
func (r *Round) d2Outcome(rd *linkmeshv1.CheckRound) Outcome {
	t := targetOf(rd, vocab.RoleD2)
	if t == nil {
		return Outcome{Status: Skip, Reason: fmt.Sprintf("the SQL Server host is given by address (%s), as recommended: the MI resolves no name for it", rd.GetSqlHost()), NotNeeded: true}
	}
	tl := count(t)
	if tl.n == 0 {
		return notRun(rd, t, "D2")
	}
	name, from := t.GetTarget().GetHost(), t.GetSource()
	if tl.failed > 0 {
		return Outcome{Status: Fail, Result: tl.worst.String(), Measured: fmt.Sprintf("%s on %d of %d lookups", tl.worst, tl.failed, tl.n),
			Reason: fmt.Sprintf("%s (in the MI's VNet) could not resolve %s: %s", from, name, tl.lastBad.GetDetail()),
			Fix: &Fix{For: ForDNS, Summary: fmt.Sprintf("The MI's VNet cannot resolve %s, the name the link would use for the SQL Server host.", name),
				Steps: []Step{
					{Text: "Add the SQL Server host's A record to the DNS the MI's VNet uses: an Azure private DNS zone linked to the VNet, or a conditional forwarder on the VNet's custom DNS servers towards the on-premises DNS:",
						Command: fmt.Sprintf("az network private-dns record-set a add-record --resource-group <dns-resource-group> --zone-name <zone> --record-set-name %s --ipv4-address <sql-server-host-ip>", strings.SplitN(name, ".", 2)[0]),
						Shell:   ShellAzureCLI},
					{Text: "Or use the SQL Server host's IP address in the link's endpoint URL (recommended), and run linkmesh check with --sql-host <ip>."},
				}}}
	}
	var got []string
	for _, res := range t.GetResults() {
		for _, a := range res.GetAddresses() {
			if !slices.Contains(got, a) {
				got = append(got, a)
			}
		}
	}
	o := Outcome{Status: Pass, Result: attempt.OK.String(), Measured: strings.Join(got, ", "),
		Reason: fmt.Sprintf("%s (in the MI's VNet) resolves %s", from, name)}
	if h, _, err := net.SplitHostPort(rd.GetProbe().GetResponderAddress()); err == nil {
		if a, err := netip.ParseAddr(h); err == nil && !slices.Contains(got, a.Unmap().String()) {
			o.Status = Warn
			o.Reason += fmt.Sprintf(", but not to %s, where the probe on the SQL Server host is known: make sure %s is the SQL Server host's address as the MI reaches it", a.Unmap(), strings.Join(got, ", "))
		}
	}
	return o
}
