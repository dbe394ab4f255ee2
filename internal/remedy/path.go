package remedy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Path is what ForPath needs to know of a path: the sites at its ends, its
// kind and ports, and its latest result (a result name of proto/vocab).
type Path struct {
	Kind                   string // tcp, echo, dns
	SourceSite, TargetSite string
	Target                 string // the target's name or address
	Port, PortEnd          uint32 // PortEnd > 0: a range
	Result                 string
}

// Direction names which way a path crosses the link: ToMI (the SQL Server side
// opens connections to the MI side: P1, P2), ToSQL (the MI side to the SQL
// Server side: P3), or Other for sites not named "sql" and "mi".
func (p Path) Direction() string {
	switch {
	case p.SourceSite == "sql" && p.TargetSite == "mi":
		return ToMI
	case p.SourceSite == "mi" && p.TargetSite == "sql":
		return ToSQL
	}
	return Other
}

// Directions of a path (Path.Direction).
const (
	ToMI  = "sql → mi"
	ToSQL = "mi → sql"
	Other = "other"
)

// ports is the path's port or range as az and PowerShell take it.
func (p Path) ports() string {
	if p.PortEnd > p.Port {
		return fmt.Sprintf("%d-%d", p.Port, p.PortEnd)
	}
	return strconv.FormatUint(uint64(p.Port), 10)
}

// DocAnchor is the section of docs/results.md about a result ("" for ok or
// an unknown result).
func DocAnchor(result string) string {
	return docAnchors[result]
}

var docAnchors = map[string]string{
	"timeout":     "timeout--packets-are-dropped",
	"refused":     "refused--reached-but-nothing-listens-or-a-firewall-rejects",
	"unreachable": "unreachable--a-router-or-firewall-says-no",
	"dns":         "dns--the-name-does-not-resolve",
	"reset":       "reset--accepted-then-cut",
	"mismatch":    "mismatch--someone-else-answered-echo-or-the-wrong-answer-dns",
	"error":       "error",
}

// ForPath is the fix for a path whose latest result is not ok, for the person
// who applies it: the same builders (and commands) as `linkmesh check`'s rows.
// It returns nil for ok and for results it has no advice on. The coordinator
// knows the ends only by probe and site, so the MI subnet and the SQL Server
// host's address are placeholders unless the target is an address.
func ForPath(p Path) *Fix {
	// Toward the MI the target is the MI's address; toward SQL Server it is
	// the SQL Server host's.
	e := NewEnds(netip.Addr{}, netip.Prefix{}, p.Target)
	ports := []string{p.ports()}
	what := fmt.Sprintf("%s TCP %s", p.Target, p.ports())
	if p.Kind == "echo" {
		what = fmt.Sprintf("the probe responder at %s (TCP %s)", p.Target, p.ports())
	}
	dir := p.Direction()
	switch p.Result {
	case "timeout", "unreachable":
		how := "the packets are dropped on the way"
		if p.Result == "unreachable" {
			how = "a router or firewall on the way refuses them"
		}
		switch dir {
		case ToMI:
			return &Fix{For: ForNetwork, Summary: fmt.Sprintf("The SQL Server side gets no answer from %s: %s.", what, how),
				Steps: []Step{e.NSGInbound("allow-mi-link-from-sql-host", ports), e.HostOutbound(ports), e.Routes()}}
		case ToSQL:
			e = NewEnds(targetAddr(p.Target), netip.Prefix{}, "")
			return &Fix{For: ForNetwork, Summary: fmt.Sprintf("The MI side gets no answer from %s: %s.", what, how),
				Steps: []Step{e.HostInbound(uint16(p.Port)), e.NSGOutbound(uint16(p.Port))}}
		}
		return &Fix{For: ForNetwork, Summary: fmt.Sprintf("No answer from %s: %s.", what, how),
			Steps: []Step{{Text: fmt.Sprintf("Allow TCP %s from the %s site to %s on every firewall and network security group between them, and check the routes both ways.", p.ports(), p.SourceSite, p.Target)}}}
	case "refused":
		if p.Kind == "echo" {
			return &Fix{For: ForNetwork, Summary: fmt.Sprintf("%s is reached, but nothing listens there.", what),
				Steps: []Step{{Text: fmt.Sprintf("Check that the linkmesh probe on %s runs with its responder on port %d (--responder), and that no firewall on that host rejects the port.", p.Target, p.Port)}}}
		}
		if dir == ToSQL {
			return &Fix{For: ForDBA, Summary: fmt.Sprintf("Nothing listens on %s where the MI connects: the mirroring endpoint is missing, stopped or on another port.", what),
				Steps: []Step{{Text: "On SQL Server, see the database mirroring endpoint and its state:",
					Command: "SELECT name, state_desc, port FROM sys.tcp_endpoints WHERE type_desc = 'DATABASE_MIRRORING';", Shell: ShellTSQL},
					{Text: "If it is stopped, start it:", Command: "ALTER ENDPOINT [<endpoint-name>] STATE = STARTED;", Shell: ShellTSQL}}}
		}
		return &Fix{For: ForNetwork, Summary: fmt.Sprintf("%s is reached but refuses the connection: nothing listens, or a firewall rejects it.", what),
			Steps: []Step{{Text: "If the MI is running, look for a firewall on the way that answers with a reset (its logs name the rule)."}, e.Routes()}}
	case "reset":
		return &Fix{For: ForNetwork, Summary: fmt.Sprintf("Connections to %s are accepted and then cut: the link's would be cut the same way.", what),
			Steps: []Step{{Text: fmt.Sprintf("Look in the logs of the firewalls, proxies and intrusion-prevention systems between the %s and %s sites for these connections; the MI link needs plain TCP passed through, not inspected or proxied.", p.SourceSite, p.TargetSite)}}}
	case "mismatch":
		if p.Kind == "dns" {
			return &Fix{For: ForDNS, Summary: fmt.Sprintf("%s resolves, but to an address outside the range the link needs.", p.Target),
				Steps: []Step{{Text: "See what the probe's host resolves and from where (a hosts file entry, a public zone instead of the private one):",
					Command: "Resolve-DnsName " + p.Target, Shell: ShellPowerShell}}}
		}
		return &Fix{For: ForNetwork, Summary: fmt.Sprintf("Something other than the expected probe answers at %s.", what),
			Steps: []Step{{Text: "Look for NAT or port forwarding that sends the port elsewhere, and check the responder address the target probe advertises (--responder-address); the detail names who answered."}}}
	case "dns":
		return &Fix{For: ForDNS, Summary: fmt.Sprintf("The %s site cannot resolve %s.", p.SourceSite, p.Target),
			Steps: []Step{{Text: "See what the probe's host resolves, and which DNS server answers:", Command: "Resolve-DnsName " + p.Target, Shell: ShellPowerShell},
				{Text: "For the MI's name, the SQL Server side's DNS must forward database.windows.net to a resolver in the MI's VNet (or hold the private zone)."}}}
	case "error":
		return &Fix{For: ForNetwork, Summary: "The attempt failed in an unexpected way; the detail says how.",
			Steps: []Step{{Text: "Read the detail and the probe's log; if it repeats, report it with both."}}}
	}
	return nil
}

// Rendered is the fix as plain text: who and the summary, then numbered
// steps with their commands on lines of their own (the JUnit report of
// `linkmesh check` and `linkmesh status --explain` print it).
func (f *Fix) Rendered() string {
	if f == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "For the %s: %s\n", f.For, f.Summary)
	for i, st := range f.Steps {
		fmt.Fprintf(&b, "%d. %s\n", i+1, st.Text)
		if st.Command != "" {
			fmt.Fprintf(&b, "   %s\n", st.Command)
		}
	}
	return b.String()
}
