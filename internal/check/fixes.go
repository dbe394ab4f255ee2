package check

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/linkmesh/linkmesh/internal/remedy"
)

// Fix and Step are remedy's: check rows and the coordinator's status page
// build their fixes from the same builders.
type (
	Fix  = remedy.Fix
	Step = remedy.Step
)

// Who applies a fix (Fix.For).
const (
	ForNetwork = remedy.ForNetwork
	ForDNS     = remedy.ForDNS
	ForDBA     = remedy.ForDBA
	ForSQLHost = remedy.ForSQLHost
)

// Shells a Step's command runs in (Step.Shell).
const (
	ShellAzureCLI   = remedy.ShellAzureCLI
	ShellPowerShell = remedy.ShellPowerShell
	ShellTSQL       = remedy.ShellTSQL
	ShellSh         = remedy.ShellSh
)

// paths is what the fix builders know about the two ends.
type paths = remedy.Ends

// newPaths fills paths for a connection from this host to dst.
func newPaths(subnet netip.Prefix, dst netip.Addr) paths {
	return remedy.NewEnds(localAddrToward(dst), subnet, dst.String())
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

// P3Fix is the fix when the MI cannot reach SQL Server's endpoint at port
// (remedy.P3Fix).
func P3Fix(sqlHost netip.Addr, subnet netip.Prefix, port uint16) *Fix {
	return remedy.P3Fix(sqlHost, subnet, port)
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
