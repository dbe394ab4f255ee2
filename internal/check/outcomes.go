package check

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// connected renders a successful attempt: "connected in 1.2 ms (kernel RTT)".
func connected(res attempt.Result) string {
	s := "connected"
	if res.RTT > 0 {
		s += fmt.Sprintf(" in %s (%s RTT)", roundDuration(res.RTT), res.RTTSource)
	}
	if res.SYNRetransmits > 0 {
		s += fmt.Sprintf(", %d SYN retransmitted (packet loss on the path)", res.SYNRetransmits)
	}
	return s
}

// acceptedThenCut renders a reset attempt of the tcp kind for Measured:
// "accepted, then reset" (an RST) or "accepted, then closed" (a FIN).
func acceptedThenCut(res attempt.Result) string {
	if strings.Contains(res.Detail, "accepted, then closed") {
		return "accepted, then closed"
	}
	return "accepted, then reset"
}

// p1Outcome turns the attempt to the MI's port 5022 into the P1 row.
func p1Outcome(res attempt.Result, dst netip.AddrPort, timeout time.Duration, p paths, hadr PortRange) Outcome {
	o := Outcome{Result: res.Code.String()}
	linkPorts := []string{strconv.Itoa(int(dst.Port())), hadr.String()}
	switch res.Code {
	case attempt.OK:
		o.Status, o.Measured = Pass, connected(res)
		o.Reason = fmt.Sprintf("the TCP handshake with %s completed", dst)
		return o
	case attempt.Timeout:
		o.Measured = fmt.Sprintf("no answer within %s", timeout)
		o.Reason = fmt.Sprintf("nothing answered from %s: an NSG, a firewall or a route drops the packets", dst)
		o.Fix = &Fix{For: ForNetwork,
			Summary: fmt.Sprintf("The SQL Server host (%s) gets no answer from the MI at %s: the packets are dropped on the way.", p.SQLHost, dst),
			Steps:   []Step{p.NSGInbound("allow-mi-link-from-sql-host", linkPorts), p.HostOutbound(linkPorts), p.Routes()}}
	case attempt.Refused:
		o.Measured = "refused (TCP reset)"
		o.Reason = fmt.Sprintf("%s answered with a reset: nothing listens on %d there (a private endpoint or the public endpoint cannot carry the link), or a firewall rejects the connection", dst.Addr(), dst.Port())
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("%s is reached but refuses TCP %d.", dst.Addr(), dst.Port()),
			Steps: []Step{
				{Text: "Make sure --mi is the MI's VNet-local FQDN (the Host on the MI's Overview page), which resolves to an address in the MI subnet (see D1)."},
				{Text: fmt.Sprintf("Look for a firewall rule with a reject action for TCP %d on the way (on-premises firewall, Azure Firewall, the SQL Server host's firewall).", dst.Port())},
			}}
	case attempt.Reset:
		o.Measured = acceptedThenCut(res)
		o.Reason = fmt.Sprintf("something at %s completed the TCP handshake and at once cut the connection (%s): a proxy or firewall in the path, or the endpoint refusing this host", dst, o.Measured)
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("Connections from the SQL Server host (%s) to the MI at %s are accepted and then reset: the link's would be cut the same way.", p.SQLHost, dst),
			Steps: []Step{
				{Text: fmt.Sprintf("Find the device that answers TCP %d for %s: look in the logs of the firewalls, proxies and intrusion-prevention systems between the SQL Server host and the MI for this connection.", dst.Port(), dst.Addr())},
				{Text: fmt.Sprintf("Let TCP %s through to the MI subnet without a TCP proxy or inspection (the mirroring protocol is proprietary and encrypted; inspecting firewalls often break it).", strings.Join(linkPorts, " and "))},
			}}
	case attempt.Unreachable:
		o.Measured = "unreachable (ICMP)"
		o.Reason = fmt.Sprintf("a router or firewall reported %s unreachable or prohibited: a route is missing, or a rule rejects the traffic", dst.Addr())
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("The way from the SQL Server host (%s) to the MI at %s is refused by a router or firewall.", p.SQLHost, dst),
			Steps: []Step{p.Routes(), p.NSGInbound("allow-mi-link-from-sql-host", linkPorts), p.HostOutbound(linkPorts)}}
	default:
		o.Measured = res.Code.String()
		o.Reason = fmt.Sprintf("%s: %s", res.Code.Explain(), res.Detail)
		o.Fix = &Fix{For: ForNetwork, Summary: fmt.Sprintf("The connection to the MI at %s failed: %s.", dst, res.Detail),
			Steps: []Step{{Text: "Look in the logs of the firewalls and intrusion-prevention systems between the SQL Server host and the MI for this connection."}, p.Routes()}}
	}
	o.Status = Fail
	return o
}

// epOutcome turns the attempt to SQL Server's own endpoint into the EP row.
func epOutcome(res attempt.Result, endpoint string, port uint16, timeout time.Duration) Outcome {
	o := Outcome{Result: res.Code.String(), Status: Fail}
	switch res.Code {
	case attempt.OK:
		o.Status, o.Measured = Pass, connected(res)
		o.Reason = "something accepts connections on " + endpoint + " (a plain connect cannot tell SQL Server from another program: --sql-dsn checks the endpoint itself)"
	case attempt.Refused:
		o.Measured = "refused: nothing listens"
		o.Reason = fmt.Sprintf("SQL Server is not listening on %d: create the endpoint (or start it)", port)
		o.Fix = &Fix{For: ForDBA, Summary: fmt.Sprintf("SQL Server has no started database mirroring endpoint on port %d; the MI cannot connect back (P3) without one.", port),
			Steps: createEndpoint(port)}
	case attempt.Reset:
		o.Measured = acceptedThenCut(res)
		o.Reason = fmt.Sprintf("something on %s accepts connections and at once cuts them (%s): not a working mirroring endpoint, but another program, a local proxy or endpoint-protection software, or an endpoint refusing this client", endpoint, o.Measured)
		o.Fix = &Fix{For: ForSQLHost, Summary: fmt.Sprintf("Connections to %s on this host are accepted and then reset.", endpoint),
			Steps: []Step{
				{Text: "Find the program that holds the port:",
					Command: fmt.Sprintf("Get-NetTCPConnection -LocalPort %d -State Listen | ForEach-Object { Get-Process -Id $_.OwningProcess }", port), Shell: ShellPowerShell},
				{Text: "If it is SQL Server, check that its mirroring endpoint is started:",
					Command: "SELECT name, state_desc, port FROM sys.tcp_endpoints WHERE type_desc = 'DATABASE_MIRRORING';", Shell: ShellTSQL},
				{Text: "Check this host's endpoint-protection software for a rule that resets connections to the port."},
			}}
	case attempt.Timeout:
		o.Measured = fmt.Sprintf("no answer within %s", timeout)
		o.Reason = fmt.Sprintf("nothing answered on %s: a filter on this host drops the connection", endpoint)
		o.Fix = &Fix{For: ForSQLHost, Summary: fmt.Sprintf("Connections to %s on this host get no answer.", endpoint),
			Steps: []Step{{Text: "Check this host's firewall and endpoint-protection software for a rule that drops the port:",
				Command: fmt.Sprintf("Get-NetFirewallPortFilter | Where-Object LocalPort -eq %d | Get-NetFirewallRule", port), Shell: ShellPowerShell}}}
	default:
		o.Measured = res.Code.String()
		o.Reason = fmt.Sprintf("%s: %s", res.Code.Explain(), res.Detail)
		o.Fix = &Fix{For: ForSQLHost, Summary: fmt.Sprintf("Connecting to %s failed: %s.", endpoint, res.Detail),
			Steps: []Step{{Text: "Check --sql-endpoint: it must be an address of this host and the endpoint's port."}}}
	}
	return o
}

// p2Input is what p2Outcome judges.
type p2Input struct {
	addr      netip.Addr
	ports     []uint16
	results   []attempt.Result
	rng       PortRange
	nodeGiven bool // --mi-node given: conclusive; else the MI's address was sampled
	timeout   time.Duration
	paths     paths
}

// p2Outcome turns the attempts to an MI node's HADR ports into the P2 row.
func p2Outcome(in p2Input) Outcome {
	var open, refused, silent, cut, other []string
	worst := attempt.OK
	for i, r := range in.results {
		port := strconv.Itoa(int(in.ports[i]))
		switch r.Code {
		case attempt.OK:
			open = append(open, port)
		case attempt.Refused:
			refused = append(refused, port)
		case attempt.Timeout:
			silent = append(silent, port)
		case attempt.Reset:
			cut = append(cut, port)
		default:
			other = append(other, port+" "+r.Code.String())
		}
		if r.Code != attempt.OK && r.Code != attempt.Refused && worst == attempt.OK {
			worst = r.Code
		}
	}
	var parts []string
	for _, g := range []struct {
		name  string
		ports []string
	}{{"open", open}, {"refused", refused}, {"no answer", silent}, {"accepted, then reset", cut}, {"failed", other}} {
		if len(g.ports) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", g.name, strings.Join(g.ports, ", ")))
		}
	}
	o := Outcome{Measured: fmt.Sprintf("%s: %s", in.addr, strings.Join(parts, "; "))}
	reached := len(open) + len(refused)
	if reached == len(in.results) {
		o.Status, o.Result = Pass, attempt.OK.String()
		switch {
		case len(in.results) == 1 && len(open) == 1:
			o.Reason = "the node's HADR port answered"
		case len(refused) > 0:
			o.Reason = "every port tried answered, so the firewalls pass the HADR ports (a refusal is the node's own answer: only the current node port listens)"
			if len(in.results) == 1 {
				o.Reason += "; the node port changes after a failover: find the current one if the link needs it"
			}
		default:
			o.Reason = "every port tried answered"
		}
		return o
	}
	o.Status, o.Result = Fail, worst.String()
	ports := []string{in.rng.String()}
	o.Fix = &Fix{For: ForNetwork,
		Summary: fmt.Sprintf("The SQL Server host (%s) cannot reach all of the MI nodes' HADR ports %s at %s.", in.paths.SQLHost, in.rng, in.addr),
		Steps:   []Step{in.paths.NSGInbound("allow-mi-link-hadr-from-sql-host", ports), in.paths.HostOutbound(ports), in.paths.Routes()}}
	switch {
	case len(cut) > 0:
		// The handshake completed, so the SYNs passed; but what answered
		// cut the connection at once, as it would cut the link's.
		o.Result = attempt.Reset.String()
		o.Reason = fmt.Sprintf("port %s accepted the connection and at once cut it: a proxy or firewall in the path, or the node refusing this host", strings.Join(cut, ", "))
		o.Fix.Steps = append([]Step{{Text: fmt.Sprintf("Find the device that answers for %s and resets the connections: look in the logs of the firewalls, proxies and intrusion-prevention systems on the way, and let TCP %s through to the MI subnet without a TCP proxy or inspection.", in.addr, in.rng)}}, o.Fix.Steps...)
	case reached > 0:
		o.Reason = fmt.Sprintf("part of %s is blocked: some ports answered and others did not, so a rule covers only part of the range", in.rng)
	case worst == attempt.Timeout:
		o.Reason = "no port tried answered: an NSG, a firewall or a route drops the packets"
	default:
		o.Reason = fmt.Sprintf("no port tried answered: %s", worst.Explain())
	}
	if !in.nodeGiven {
		// Not a pass and not a proven failure: the ports were tried on the
		// MI's endpoint address, not a node's. P2 is then untested, and the
		// report can be no better than PARTIAL until a node is tested.
		o.Status = Skip
		o.Reason += "; these ports were tried on the MI's endpoint address, and the MI's nodes may have addresses of their own, so this is not conclusive: give --mi-node <node-fqdn> to test a node"
	}
	return o
}
