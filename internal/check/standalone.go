package check

import (
	"fmt"
	"net"
	"strconv"
)

// Standalone returns the checks the SQL Server host can run on its own, in report
// order: D1 (the MI's name), P1 (5022 to the MI), P2 (the MI nodes' HADR ports),
// EP (SQL Server's own endpoint listens), then the rows that need a probe in the
// MI's VNet (PeerChecks), which it cannot run and skips with the reason. cfg must
// have passed Validate.
func Standalone(cfg Config) []Check {
	n := newNetwork(cfg)
	what := "MI's name resolves to a private address"
	if cfg.MISubnet.IsValid() {
		what += " in " + cfg.MISubnet.String()
	}
	p2 := "SQL Server host → MI node, TCP " + cfg.HADRPorts.String()
	if cfg.MINodePort != 0 {
		p2 = fmt.Sprintf("SQL Server host → MI node, TCP %d", cfg.MINodePort)
	}
	ep := Check{ID: "EP", What: "SQL Server listens on its mirroring endpoint", Required: true,
		Skip: "not checked: --sql-endpoint none"}
	if cfg.SQLEndpoint != "" {
		ep.What += " (" + cfg.SQLEndpoint + ")"
		ep.Run = n.ep
	}
	checks := []Check{
		{ID: "D1", What: what, Required: true, Run: n.d1},
		{ID: "P1", What: fmt.Sprintf("SQL Server host → MI, TCP %d", cfg.MIPort), Required: true, Run: n.p1},
		{ID: "P2", What: p2, Required: true, Run: n.p2},
		ep,
	}
	return append(checks, PeerChecks(cfg)...)
}

// PeerNeeded is why the standalone mode skips a row: only a probe in the MI's
// virtual network can test it.
const PeerNeeded = "needs a probe in the MI's VNet: run with --coordinator"

// PeerChecks returns the rows only a probe in the MI's VNet can test, with no
// Run: P3 (the MI reaches SQL Server's endpoint), D2 (the MI's VNet resolves the
// SQL Server host), MTU (no path-MTU black hole) and BW (throughput, for the
// seeding estimate). The coordinated mode replaces them with checks that run.
func PeerChecks(cfg Config) []Check {
	port := SQLEndpointPort
	if _, p, err := net.SplitHostPort(cfg.SQLEndpoint); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return []Check{
		{ID: "P3", What: fmt.Sprintf("MI → SQL Server host, TCP %d", port), Required: true, Skip: PeerNeeded},
		{ID: "D2", What: "MI's VNet resolves the SQL Server host's name", Skip: PeerNeeded + "; matters only when the endpoint is given by name"},
		{ID: "MTU", What: "path MTU between the sites (VPN black holes)", Required: true, Skip: PeerNeeded + "; a connect test cannot see an MTU black hole"},
		{ID: "BW", What: "throughput for initial seeding", Skip: PeerNeeded},
	}
}
