// Package remedy holds the fixes linkmesh gives for a broken path of the MI
// link: who applies them, and the exact commands (az, PowerShell) with the
// values it knows filled in and <placeholders> for the rest. `linkmesh check`
// (package check) and the coordinator's status page and `linkmesh status`
// both build their fixes here, so a fix reads the same everywhere.
package remedy

import (
	"fmt"
	"net/netip"
	"strings"
)

// Fix is what to change to make a path or a check row pass, written for the
// person who applies it.
type Fix struct {
	// For names who applies it: "network team", "DBA", "DNS administrator".
	For string `json:"for"`
	// Summary says in one sentence what is wrong and where.
	Summary string `json:"summary"`
	// Steps are the changes, in the order to try them.
	Steps []Step `json:"steps"`
}

// Step is one change of a Fix: what to do and, when there is one, the exact
// command to run.
type Step struct {
	// Text says what to do and where.
	Text string `json:"text"`
	// Command is the line to run, with the values linkmesh knows filled in and
	// <placeholders> for those it cannot know. Empty when there is none.
	Command string `json:"command,omitempty"`
	// Shell is where Command runs: "azure-cli", "powershell", "t-sql" or "sh".
	Shell string `json:"shell,omitempty"`
}

// Who applies a fix (Fix.For), so a DBA can hand the network team their part.
const (
	ForNetwork = "network team"
	ForDNS     = "DNS administrator"
	ForDBA     = "DBA"
	ForSQLHost = "SQL Server host administrator"
)

// Shells a Step's command runs in (Step.Shell).
const (
	ShellAzureCLI   = "azure-cli"
	ShellPowerShell = "powershell"
	ShellTSQL       = "t-sql"
	ShellSh         = "sh"
)

// Placeholders for what linkmesh cannot know.
const (
	PlaceholderSubnet = "<mi-subnet-cidr>"
	PlaceholderSQL    = "<sql-server-host-ip>/32"
	PlaceholderMI     = "<mi-address>"
)

// Ends is what the fix builders know about the two ends of the link, with
// placeholders for what linkmesh cannot know.
type Ends struct {
	SQLHost  string // the SQL Server host's address as a /32 (or a placeholder)
	MISubnet string // the MI subnet's CIDR (or a placeholder)
	MIAddr   string // the MI's address as dialed (or a placeholder)
}

// NewEnds fills Ends from what is known; an invalid address or prefix leaves
// its placeholder.
func NewEnds(sqlHost netip.Addr, subnet netip.Prefix, miAddr string) Ends {
	e := Ends{SQLHost: PlaceholderSQL, MISubnet: PlaceholderSubnet, MIAddr: PlaceholderMI}
	if sqlHost.IsValid() {
		e.SQLHost = netip.PrefixFrom(sqlHost, sqlHost.BitLen()).String()
	}
	if subnet.IsValid() {
		e.MISubnet = subnet.String()
	}
	if miAddr != "" {
		e.MIAddr = miAddr
	}
	return e
}

// NSGInbound is the az line that lets the SQL Server host reach ports on the MI
// subnet (P1, P2): an inbound rule on the MI subnet's NSG.
func (p Ends) NSGInbound(name string, ports []string) Step {
	return Step{
		Text: fmt.Sprintf("On the MI subnet's network security group, allow inbound TCP %s from the SQL Server host (if the host reaches Azure through NAT, use the address it is translated to; an on-premises prefix also works):", strings.Join(ports, ", ")),
		Command: fmt.Sprintf("az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name %s --priority 1000 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes %s --destination-address-prefixes %s --destination-port-ranges %s",
			name, p.SQLHost, p.MISubnet, strings.Join(ports, " ")),
		Shell: ShellAzureCLI,
	}
}

// NSGOutbound is the az line that lets the MI reach SQL Server's endpoint (P3):
// an outbound rule on the MI subnet's NSG.
func (p Ends) NSGOutbound(port uint16) Step {
	return Step{
		Text: fmt.Sprintf("On the MI subnet's network security group, allow outbound TCP %d to the SQL Server host:", port),
		Command: fmt.Sprintf("az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name allow-mi-link-to-sql-host --priority 1010 --direction Outbound --access Allow --protocol Tcp --source-address-prefixes %s --destination-address-prefixes %s --destination-port-ranges %d",
			p.MISubnet, p.SQLHost, port),
		Shell: ShellAzureCLI,
	}
}

// HostOutbound is the PowerShell line for the SQL Server host's own firewall,
// needed only where it blocks outbound traffic (Windows allows it by default).
func (p Ends) HostOutbound(ports []string) Step {
	return Step{
		Text: fmt.Sprintf("Allow outbound TCP %s to the MI subnet on the on-premises firewall, and on the SQL Server host if its firewall blocks outbound traffic (Windows allows it by default; PowerShell as administrator):", strings.Join(ports, ", ")),
		Command: fmt.Sprintf(`New-NetFirewallRule -DisplayName "MI link to MI (TCP %s)" -Direction Outbound -Protocol TCP -RemotePort %s -RemoteAddress %s -Action Allow`,
			strings.Join(ports, ", "), strings.Join(ports, ","), p.MISubnet),
		Shell: ShellPowerShell,
	}
}

// HostInbound is the PowerShell line that lets the MI reach SQL Server's
// endpoint through the SQL Server host's firewall (P3).
func (p Ends) HostInbound(port uint16) Step {
	return Step{
		Text: fmt.Sprintf("On the SQL Server host, allow inbound TCP %d from the MI subnet (PowerShell as administrator); any on-premises firewall on the way needs the same:", port),
		Command: fmt.Sprintf(`New-NetFirewallRule -DisplayName "MI link from MI (TCP %d)" -Direction Inbound -Protocol TCP -LocalPort %d -RemoteAddress %s -Action Allow`,
			port, port, p.MISubnet),
		Shell: ShellPowerShell,
	}
}

// Routes is the step that checks the routes between the sites.
func (p Ends) Routes() Step {
	return Step{
		Text:    fmt.Sprintf("Check the routes both ways: the VPN or ExpressRoute must carry %s from here and the SQL Server host's prefix back, and no user-defined route on the MI subnet may send it elsewhere (e.g. to a firewall appliance). On this host, see which interface and gateway reach the MI:", p.MISubnet),
		Command: "Find-NetRoute -RemoteIPAddress " + p.MIAddr,
		Shell:   ShellPowerShell,
	}
}

// P3Fix is the fix when the MI cannot reach SQL Server's endpoint at port
// (result timeout or unreachable): the MI subnet's outbound rule and the SQL
// Server host's inbound rule. The coordinated mode, which measures P3, uses it;
// sqlHost is the address the MI dials, subnet the MI subnet (invalid: unknown).
func P3Fix(sqlHost netip.Addr, subnet netip.Prefix, port uint16) *Fix {
	p := NewEnds(sqlHost, subnet, "")
	return &Fix{
		For:     ForNetwork,
		Summary: fmt.Sprintf("The MI cannot reach SQL Server's mirroring endpoint on TCP %d: something between drops the packets.", port),
		Steps:   []Step{p.HostInbound(port), p.NSGOutbound(port)},
	}
}

// targetAddr is s as an address; a name is the zero Addr.
func targetAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
