package check

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

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

// paths is what the fix builders know about the two ends, with placeholders for
// what linkmesh cannot know.
type paths struct {
	sqlHost  string // the SQL Server host's address as a /32 (or a placeholder)
	miSubnet string // the MI subnet's CIDR (or a placeholder)
	miAddr   string // the MI's address as dialed
}

const (
	placeholderSubnet = "<mi-subnet-cidr>"
	placeholderSQL    = "<sql-server-host-ip>/32"
)

// newPaths fills paths for a connection from this host to dst.
func newPaths(subnet netip.Prefix, dst netip.Addr) paths {
	p := paths{sqlHost: placeholderSQL, miSubnet: placeholderSubnet, miAddr: dst.String()}
	if subnet.IsValid() {
		p.miSubnet = subnet.String()
	}
	if src := localAddrToward(dst); src.IsValid() {
		p.sqlHost = netip.PrefixFrom(src, src.BitLen()).String()
	}
	return p
}

// localAddrToward returns the address this host sends from to reach dst, as the
// routing table chooses it. Connecting a UDP socket sends no packet.
func localAddrToward(dst netip.Addr) netip.Addr {
	if !dst.IsValid() {
		return netip.Addr{}
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.Addr{}
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// nsgInbound is the az line that lets the SQL Server host reach ports on the MI
// subnet (P1, P2): an inbound rule on the MI subnet's NSG.
func (p paths) nsgInbound(name string, ports []string) Step {
	return Step{
		Text: fmt.Sprintf("On the MI subnet's network security group, allow inbound TCP %s from the SQL Server host (if the host reaches Azure through NAT, use the address it is translated to; an on-premises prefix also works):", strings.Join(ports, ", ")),
		Command: fmt.Sprintf("az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name %s --priority 1000 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes %s --destination-address-prefixes %s --destination-port-ranges %s",
			name, p.sqlHost, p.miSubnet, strings.Join(ports, " ")),
		Shell: ShellAzureCLI,
	}
}

// nsgOutbound is the az line that lets the MI reach SQL Server's endpoint (P3):
// an outbound rule on the MI subnet's NSG.
func (p paths) nsgOutbound(port uint16) Step {
	return Step{
		Text: fmt.Sprintf("On the MI subnet's network security group, allow outbound TCP %d to the SQL Server host:", port),
		Command: fmt.Sprintf("az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name allow-mi-link-to-sql-host --priority 1010 --direction Outbound --access Allow --protocol Tcp --source-address-prefixes %s --destination-address-prefixes %s --destination-port-ranges %d",
			p.miSubnet, p.sqlHost, port),
		Shell: ShellAzureCLI,
	}
}

// hostOutbound is the PowerShell line for the SQL Server host's own firewall,
// needed only where it blocks outbound traffic (Windows allows it by default).
func (p paths) hostOutbound(ports []string) Step {
	return Step{
		Text: fmt.Sprintf("Allow outbound TCP %s to the MI subnet on the on-premises firewall, and on the SQL Server host if its firewall blocks outbound traffic (Windows allows it by default; PowerShell as administrator):", strings.Join(ports, ", ")),
		Command: fmt.Sprintf(`New-NetFirewallRule -DisplayName "MI link to MI (TCP %s)" -Direction Outbound -Protocol TCP -RemotePort %s -RemoteAddress %s -Action Allow`,
			strings.Join(ports, ", "), strings.Join(ports, ","), p.miSubnet),
		Shell: ShellPowerShell,
	}
}

// hostInbound is the PowerShell line that lets the MI reach SQL Server's
// endpoint through the SQL Server host's firewall (P3).
func (p paths) hostInbound(port uint16) Step {
	return Step{
		Text: fmt.Sprintf("On the SQL Server host, allow inbound TCP %d from the MI subnet (PowerShell as administrator); any on-premises firewall on the way needs the same:", port),
		Command: fmt.Sprintf(`New-NetFirewallRule -DisplayName "MI link from MI (TCP %d)" -Direction Inbound -Protocol TCP -LocalPort %d -RemoteAddress %s -Action Allow`,
			port, port, p.miSubnet),
		Shell: ShellPowerShell,
	}
}

// routes is the step that checks the routes between the sites.
func (p paths) routes() Step {
	return Step{
		Text:    fmt.Sprintf("Check the routes both ways: the VPN or ExpressRoute must carry %s from here and the SQL Server host's prefix back, and no user-defined route on the MI subnet may send it elsewhere (e.g. to a firewall appliance). On this host, see which interface and gateway reach the MI:", p.miSubnet),
		Command: "Find-NetRoute -RemoteIPAddress " + p.miAddr,
		Shell:   ShellPowerShell,
	}
}

// P3Fix is the fix when the MI cannot reach SQL Server's endpoint at port
// (result timeout or unreachable): the MI subnet's outbound rule and the SQL
// Server host's inbound rule. The coordinated mode, which measures P3, uses it;
// sqlHost is the address the MI dials, subnet the MI subnet (invalid: unknown).
func P3Fix(sqlHost netip.Addr, subnet netip.Prefix, port uint16) *Fix {
	p := paths{sqlHost: placeholderSQL, miSubnet: placeholderSubnet}
	if sqlHost.IsValid() {
		p.sqlHost = netip.PrefixFrom(sqlHost, sqlHost.BitLen()).String()
	}
	if subnet.IsValid() {
		p.miSubnet = subnet.String()
	}
	return &Fix{
		For:     ForNetwork,
		Summary: fmt.Sprintf("The MI cannot reach SQL Server's mirroring endpoint on TCP %d: something between drops the packets.", port),
		Steps:   []Step{p.hostInbound(port), p.nsgOutbound(port)},
	}
}

// createEndpoint is the DBA's fix when nothing listens on SQL Server's endpoint
// port: start the endpoint, or create it.
func createEndpoint(port uint16) []Step {
	return []Step{
		{
			Text:    "If the endpoint exists but is stopped, start it (find its name with SELECT name, state_desc FROM sys.database_mirroring_endpoints):",
			Command: "ALTER ENDPOINT [<endpoint-name>] STATE = STARTED;",
			Shell:   ShellTSQL,
		},
		CreateEndpointStep(port),
		{Text: fmt.Sprintf("If the endpoint listens on another port than %d, run linkmesh check with --sql-endpoint 127.0.0.1:<port> and use that port for the link.", port)},
	}
}

// CreateEndpointStep is the T-SQL that creates the database mirroring endpoint
// the MI link needs, listening on port. The EP row and package sqlserver's
// sql.endpoint row give it to the DBA.
func CreateEndpointStep(port uint16) Step {
	return Step{
		Text:    "Create the endpoint with the certificate the link uses (created in master and protected by the master key, as the MI link preparation guide describes):",
		Command: fmt.Sprintf("CREATE ENDPOINT database_mirroring_endpoint STATE = STARTED AS TCP (LISTENER_PORT = %d, LISTENER_IP = ALL) FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <certificate-name>, ENCRYPTION = REQUIRED ALGORITHM AES);", port),
		Shell:   ShellTSQL,
	}
}
