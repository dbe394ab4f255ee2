package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/check"
	"github.com/linkmesh/linkmesh/internal/check/sqlserver"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
)

// dsnEnv is the environment variable read when --sql-dsn is not given, so the
// password need not appear on the command line; miDSNEnv the same for --mi-dsn.
const (
	dsnEnv   = "LINKMESH_SQL_DSN"
	miDSNEnv = "LINKMESH_MI_DSN"
)

// checkFlags are the flags of `linkmesh check`, as typed.
type checkFlags struct {
	mi, miSubnet, miNode, hadrPorts, sqlEndpoint string
	sqlDSN, databaseSize, dnsServer, output      string
	miDSN                                        string
	miAgentTest                                  bool
	co                                           coordinatorFlags
	hadrSample                                   int
	databases                                    listFlag
	timeout                                      time.Duration
}

// Check runs `linkmesh check`: it tests every requirement of the MI link it can
// reach from this host, prints the report on stdout and progress on stderr, and
// returns nil when every required row ran and passed, an error (exit code 1)
// when one failed, a UsageError (exit code 2) for bad flags or a round that
// could not run, and an ExitError with code 3 when every required row that ran
// passed but one could not run (the verdict PARTIAL).
func Check(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", `usage: linkmesh check --mi FQDN [flags]
       linkmesh check --mi FQDN --coordinator HOST:PORT --probe PROBE (--tls-ca ca.crt --tls-cert OPERATOR.crt --tls-key OPERATOR.key | --insecure) [flags]

Run on the SQL Server host. Tests the MI link's requirements and prints a report;
with --coordinator, probes on both sites also test the MI → SQL Server direction,
the path MTU and the throughput. Exit code 0: every required row passed, 1: one
failed, 2: bad flags, or the coordinator could not run the round, 3: every
required row that ran passed but one could not run (standalone: P3 and MTU).`, args, stdout, stderr)
	var f checkFlags
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	stderr = check.SyncWriter(stderr) // the rows' and the round's progress share it
	cfg, inputs, err := f.config()
	if err != nil {
		return &UsageError{Err: err}
	}
	render, err := renderer(f.output)
	if err != nil {
		return &UsageError{Err: err}
	}

	var co *coordinated
	if f.co.addr != "" {
		if co, err = f.coordinated(ctx, cfg, &inputs, stderr); err != nil {
			return &UsageError{Err: err}
		}
		defer co.conn.Close()
	}
	mode, checks := "standalone", check.Standalone(cfg)
	if co != nil {
		mode, checks = "coordinated", co.checks
	}
	sqlChecks, closeDB, err := f.sqlChecks(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeDB()
	checks = append(checks, sqlChecks.rows...)
	if sqlChecks.node != nil { // right after P2
		at := len(checks)
		for i, c := range checks {
			if c.ID == "P2" {
				at = i + 1
			}
		}
		checks = slices.Insert(checks, at, *sqlChecks.node)
	}
	if a := sqlChecks.agent; a != nil {
		// EP must see what listens on the endpoint port, not P3-MI's
		// stand-in; nor may the stand-in take the port from the round's.
		agent := check.After(checks, "EP", *a)
		if co != nil {
			run := agent.Run
			agent.Run = func(ctx context.Context) check.Outcome {
				_ = co.round.Wait(ctx) // a round that failed says so in its own rows
				return run(ctx)
			}
		}
		checks = append(checks, agent)
	}
	inputs.SQLReadiness = f.dsn() != ""
	inputs.MIReadiness, inputs.MIAgentTest = f.miDSNValue() != "", f.miAgentTest
	host, _ := os.Hostname()
	fmt.Fprintf(stderr, "linkmesh check: %d rows for MI %s (each attempt waits up to %s)\n", len(checks), cfg.MI, cfg.Timeout)
	started := time.Now()
	rows := check.Run(ctx, checks, stderr)
	report := check.Report{
		Mode: mode, Host: host, Version: buildinfo.Version(),
		Started: started, Duration: time.Since(started),
		Inputs: inputs, Rows: rows,
		Seeding: check.EstimateSeeding(inputs.DatabaseSize, 0),
	}
	if co != nil {
		co.fill(&report)
		if err := co.round.Err(); err != nil {
			report.Incomplete = fmt.Sprintf("the round through coordinator %s did not run, so P3, D2, MTU and BW are not measured: %v", f.co.addr, err)
		}
	}
	if err := render(stdout, report); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: the report is incomplete")
	}
	return verdictError(report)
}

func (f *checkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.mi, "mi", "", "the MI's VNet-local FQDN, e.g. sqlmi1.abc123def456.database.windows.net (required)")
	fs.StringVar(&f.miSubnet, "mi-subnet", "", "the MI subnet's CIDR, e.g. 10.0.1.0/24: D1 requires the MI's address in it, and the fixes use it")
	fs.StringVar(&f.miNode, "mi-node", "", "an MI node, host[:port], for P2 (default: the MI's own address); with a port, only that port is tried")
	fs.StringVar(&f.hadrPorts, "hadr-ports", check.DefaultHADRPorts.String(), "the MI nodes' HADR port range P2 samples")
	fs.IntVar(&f.hadrSample, "hadr-sample", 4, "how many ports of --hadr-ports P2 tries, chosen at random")
	fs.StringVar(&f.sqlEndpoint, "sql-endpoint", fmt.Sprintf("127.0.0.1:%d", check.SQLEndpointPort), "SQL Server's mirroring endpoint on this host, host:port (\"none\": skip EP); its port is the one the link must use")
	fs.StringVar(&f.sqlDSN, "sql-dsn", "", "SQL Server connection string for the readiness rows, e.g. \"sqlserver://localhost?database=master\" (default: $"+dsnEnv+"; none: no readiness rows)")
	fs.Var(&f.databases, "databases", "databases to replicate, comma-separated: FULL recovery and a full backup (needs --sql-dsn)")
	fs.StringVar(&f.miDSN, "mi-dsn", "", "a login on the MI, e.g. \"sqlserver://<login>@<mi-fqdn>:1433?database=master\": reads its current node and HADR port (P2-node tests them) and its certificates (sql.micert, mi.trust) (default: $"+miDSNEnv+"; none: no MI rows)")
	fs.BoolVar(&f.miAgentTest, "mi-agent-test", false, "with --mi-dsn (sysadmin or SQLAgentOperatorRole on the MI) and --sql-host IP: a temporary SQL Agent job on the MI tests TCP to SQL Server's endpoint from inside the MI's subnet (P3-MI), then is deleted")
	fs.StringVar(&f.databaseSize, "database-size", "", "total size of the databases to seed, e.g. 500GB or 2TiB, for a seeding-time estimate")
	fs.StringVar(&f.dnsServer, "dns-server", "", "send DNS queries to this server (IP[:port]) instead of the system's, e.g. a DNS server in the MI's VNet")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "deadline of each connection attempt, lookup and SQL query")
	fs.StringVar(&f.output, "output", "table", "report format: table, json or junit")
	fs.StringVar(&f.co.addr, "coordinator", "", "coordinated mode: a coordinator's gRPC address, host:port; probes on both sites then also measure P3 (MI → SQL Server), D2, the path MTU and (with --database-size) the throughput")
	fs.StringVar(&f.co.probe, "probe", "", "coordinated mode: the probe on this host, the SQL Server host (required with an operator's certificate; default: the name in a probe's --tls-cert, else the host name)")
	fs.StringVar(&f.co.peer, "peer", "", "coordinated mode: the probe in the MI's VNet (default: the one probe of another site connected to the coordinator)")
	fs.StringVar(&f.co.sqlHost, "sql-host", "", "coordinated mode: this host as the MI reaches it, an IP address (recommended) or a name (then D2 checks the MI's VNet resolves it); one of the probe's own addresses, or a name the coordinator's check_rounds.sql_host_names gives it; default: the address the coordinator sees the probe at")
	fs.BoolVar(&f.co.standIn, "stand-in", true, "coordinated mode: while the round runs, answer on SQL Server's endpoint port in its place if nothing listens there yet (released afterwards; never when the port is in use)")
	f.co.tls.register(fs, "coordinated mode: an operator's certificate (linkmesh certs operator --name NAME)")
	fs.StringVar(&f.co.serverName, "tls-server-name", "", "coordinated mode: the name the coordinator's certificate is checked against (default: the host in --coordinator)")
	fs.BoolVar(&f.co.insecure, "insecure", false, "coordinated mode: plain gRPC to a coordinator without TLS (test setups only)")
}

// readiness are the rows that log in to SQL Server and the MI: appended to
// the report, but for node (P2-node), which goes right after P2, and agent
// (P3-MI), which goes last and runs after EP (and the coordinated round).
type readiness struct {
	rows  []check.Check
	node  *check.Check
	agent *check.Check
}

// sqlChecks are the SQL Server readiness rows (--sql-dsn) and the MI's
// (--mi-dsn, with P2-node and, with --mi-agent-test, P3-MI), with the
// function that closes their connections.
func (f *checkFlags) sqlChecks(cfg check.Config, progress io.Writer) (readiness, func(), error) {
	dsn, miDSN := f.dsn(), f.miDSNValue()
	switch {
	case dsn == "" && len(f.databases) > 0:
		return readiness{}, nil, usageErrorf("--databases needs --sql-dsn (or $%s): the recovery model and backups are read from SQL Server", dsnEnv)
	case f.miAgentTest && miDSN == "":
		return readiness{}, nil, usageErrorf("--mi-agent-test needs --mi-dsn (or $%s): the job runs on the MI", miDSNEnv)
	}
	var src sqlserver.Sources
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	for _, s := range []struct {
		dsn, flag string
		q         *sqlserver.Querier
	}{{dsn, "--sql-dsn", &src.SQL}, {miDSN, "--mi-dsn", &src.MI}} {
		if s.dsn == "" {
			continue
		}
		db, err := sqlserver.Open(s.dsn)
		if err != nil {
			closeAll()
			return readiness{}, nil, &UsageError{Err: fmt.Errorf("%s: %w", s.flag, err)}
		}
		*s.q, closers = db, append(closers, func() { db.Close() })
	}
	port := uint16(check.SQLEndpointPort)
	if _, p, err := net.SplitHostPort(cfg.SQLEndpoint); err == nil {
		n, _ := strconv.ParseUint(p, 10, 16)
		port = uint16(n)
	}
	var out readiness
	if src.SQL == nil && src.MI == nil {
		return out, closeAll, nil
	}
	sess := sqlserver.New(src, sqlserver.Options{EndpointPort: port, Databases: f.databases, MI: cfg.MI, Timeout: cfg.Timeout})
	out.rows = sess.Checks()
	if src.MI == nil {
		return out, closeAll, nil
	}
	node := check.NodeCheck(cfg, func(ctx context.Context) (string, uint16, error) {
		n, err := sess.MINode(ctx)
		return n.Host, n.Port, err
	})
	out.node = &node
	if f.miAgentTest {
		target, err := netip.ParseAddr(f.co.sqlHost)
		if err != nil {
			closeAll()
			return readiness{}, nil, usageErrorf("--mi-agent-test needs --sql-host IP: the SQL Server host's address as the MI reaches it (the job runs tnc to it), e.g. --sql-host 10.20.0.4")
		}
		if target.IsLoopback() || target.IsUnspecified() || target.IsMulticast() || target.IsLinkLocalUnicast() {
			// On the MI, 127.0.0.1:5022 is the MI's own endpoint: a pass
			// there would prove nothing about SQL Server.
			closeAll()
			return readiness{}, nil, usageErrorf("--sql-host %s: give the SQL Server host's address as the MI reaches it; a loopback, unspecified, multicast or link-local address would be tested on the MI itself", target)
		}
		c := sess.AgentCheck(sqlserver.AgentTest{Target: target, Port: port}, func() *check.Fix { return check.P3Fix(target, cfg.MISubnet, port) })
		if f.co.standIn {
			c = withStandIn(c, port, progress)
		}
		out.agent = &c
	}
	return out, closeAll, nil
}

// verdictError is what Check returns for a report that ran: nil when it is
// READY, else an error whose exit code is the report's (the JSON report's
// exit_code and the process's never differ).
func verdictError(r check.Report) error {
	rowIDs := func(rows []check.Row) string {
		ids := make([]string, len(rows))
		for i, row := range rows {
			ids[i] = row.ID
		}
		return strings.Join(ids, ", ")
	}
	switch v := r.Verdict(); v {
	case check.Incomplete:
		return &UsageError{Err: errors.New(r.Incomplete)}
	case check.NotReady:
		return fmt.Errorf("not ready: %s failed (the report says why and how to fix it)", rowIDs(r.Failures()))
	case check.Partial:
		return &ExitError{Code: v.ExitCode(), Err: fmt.Errorf("partial: every required row that ran passed, but %s did not run (the report says what to run to complete it)", rowIDs(r.Untested()))}
	}
	return nil
}

// coordinated is the coordinated mode's connection, checks and round.
type coordinated struct {
	conn   *grpc.ClientConn
	checks []check.Check
	round  *check.Round
}

// coordinated checks the coordinated mode's flags, connects to the
// coordinator (an unreachable one is an error here, before any check runs)
// and builds the checks.
func (f *checkFlags) coordinated(ctx context.Context, cfg check.Config, in *check.Inputs, stderr io.Writer) (*coordinated, error) {
	if _, port, err := net.SplitHostPort(f.co.addr); err != nil || port == "" {
		return nil, fmt.Errorf("--coordinator %q: give the coordinator's gRPC address as host:port, e.g. coord1.example.net:7000", f.co.addr)
	}
	req := &linkmeshv1.RunCheckRequest{
		Peer:     f.co.peer,
		SqlPort:  uint32(check.SQLEndpointPort),
		StandIn:  f.co.standIn,
		Timeout:  durationpb.New(min(cfg.Timeout, maxRoundTimeout)),
		Attempts: checkAttempts,
	}
	if f.co.sqlHost != "" {
		h, err := check.ParseHost("--sql-host", f.co.sqlHost)
		if err != nil {
			return nil, err
		}
		req.SqlHost = h
	}
	if _, p, err := net.SplitHostPort(cfg.SQLEndpoint); err == nil {
		n, _ := strconv.ParseUint(p, 10, 16)
		req.SqlPort = uint32(n)
	}
	if in.DatabaseSize > 0 {
		req.BurstBytes = check.BurstBytes
	}
	creds, probe, err := f.co.creds()
	if err != nil {
		return nil, err
	}
	if probe == "" {
		return nil, errors.New("--probe: name the probe on this host (the host name is unknown)")
	}
	req.Probe = probe
	fmt.Fprintf(stderr, "linkmesh check: connecting to coordinator %s as probe %s\n", f.co.addr, probe)
	conn, err := dialCoordinator(ctx, f.co.addr, creds, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	checks, round := check.CoordinatedChecks(cfg, check.Coordinated{
		Round: roundFunc(conn, req), Progress: stderr, StandIn: f.co.standIn, DatabaseSize: in.DatabaseSize,
	})
	in.Coordinator, in.Probe, in.Peer, in.SQLHost, in.StandIn = f.co.addr, probe, f.co.peer, req.SqlHost, f.co.standIn
	return &coordinated{conn: conn, checks: checks, round: round}, nil
}

// checkAttempts is how many attempts each target of the round makes.
const checkAttempts = 3

// maxRoundTimeout is the longest attempt a coordinator allows a round;
// --timeout goes up to 2 minutes for the rows of this host.
const maxRoundTimeout = time.Minute

// fill completes the report with what the round learnt: the probes it ran
// on, the address P3 used, and the seeding estimate from the burst.
func (c *coordinated) fill(r *check.Report) {
	if rd := c.round.Result(); rd != nil {
		r.Inputs.Probe, r.Inputs.Peer, r.Inputs.SQLHost = rd.GetProbe().GetName(), rd.GetPeer().GetName(), rd.GetSqlHost()
	}
	if bps := c.round.Throughput(); bps > 0 {
		r.Seeding = check.EstimateSeeding(r.Inputs.DatabaseSize, bps)
	}
}

// miDSNValue is --mi-dsn, or else $LINKMESH_MI_DSN.
func (f *checkFlags) miDSNValue() string {
	if f.miDSN != "" {
		return f.miDSN
	}
	return os.Getenv(miDSNEnv)
}

// dsn is --sql-dsn, or else $LINKMESH_SQL_DSN.
func (f *checkFlags) dsn() string {
	if f.sqlDSN != "" {
		return f.sqlDSN
	}
	return os.Getenv(dsnEnv)
}

// config checks every flag and builds the standalone config and the inputs the
// report echoes. Errors are one line, naming the flag.
func (f *checkFlags) config() (check.Config, check.Inputs, error) {
	var cfg check.Config
	var in check.Inputs
	if f.co.addr == "" {
		for flag, set := range map[string]bool{"--probe": f.co.probe != "", "--peer": f.co.peer != "", "--sql-host": f.co.sqlHost != "" && !f.miAgentTest,
			"--tls-ca, --tls-cert, --tls-key": !f.co.tls.empty(), "--tls-server-name": f.co.serverName != "", "--insecure": f.co.insecure} {
			if set && flag == "--sql-host" {
				return cfg, in, errors.New("--sql-host: only with --coordinator (the coordinated mode) or --mi-agent-test")
			}
			if set {
				return cfg, in, fmt.Errorf("%s: only with --coordinator (the coordinated mode)", flag)
			}
		}
	}
	if f.mi == "" {
		return cfg, in, errors.New("--mi is required: the MI's VNet-local FQDN, e.g. sqlmi1.abc123def456.database.windows.net")
	}
	var err error
	if cfg.MI, err = check.ParseHost("--mi", f.mi); err != nil {
		return cfg, in, err
	}
	cfg.MIPort = check.MIPort
	if f.miSubnet != "" {
		if cfg.MISubnet, err = check.ParseSubnet("--mi-subnet", f.miSubnet); err != nil {
			return cfg, in, err
		}
	}
	if cfg.HADRPorts, err = check.ParsePortRange(f.hadrPorts); err != nil {
		return cfg, in, fmt.Errorf("--hadr-ports: %w", err)
	}
	if f.miNode != "" {
		if _, _, splitErr := net.SplitHostPort(f.miNode); splitErr == nil {
			cfg.MINode, cfg.MINodePort, err = check.ParseHostPort("--mi-node", f.miNode, 0)
		} else {
			cfg.MINode, err = check.ParseHost("--mi-node", f.miNode)
		}
		if err != nil {
			return cfg, in, err
		}
	}
	if f.sqlEndpoint != "none" {
		h, p, err := check.ParseHostPort("--sql-endpoint", f.sqlEndpoint, check.SQLEndpointPort)
		if err != nil {
			return cfg, in, err
		}
		cfg.SQLEndpoint = net.JoinHostPort(h, strconv.Itoa(int(p)))
	}
	if f.databaseSize != "" {
		if in.DatabaseSize, err = check.ParseSize(f.databaseSize); err != nil {
			return cfg, in, fmt.Errorf("--database-size: %w", err)
		}
	}
	r, err := check.NewResolver(f.dnsServer)
	if err != nil {
		return cfg, in, err
	}
	if r != nil {
		cfg.Resolver = r
	}
	cfg.HADRSample, cfg.Timeout = f.hadrSample, f.timeout
	if err := cfg.Validate(); err != nil {
		return cfg, in, err
	}
	in.MI, in.MIPort, in.MINode, in.HADRPorts, in.HADRSample = cfg.MI, cfg.MIPort, f.miNode, cfg.HADRPorts.String(), cfg.HADRSample
	if cfg.MISubnet.IsValid() {
		in.MISubnet = cfg.MISubnet.String()
	}
	in.SQLEndpoint, in.DNSServer, in.Databases, in.Timeout = cfg.SQLEndpoint, f.dnsServer, f.databases, cfg.Timeout
	return cfg, in, nil
}

// renderer picks the report writer for --output.
func renderer(output string) (func(io.Writer, check.Report) error, error) {
	switch output {
	case "table":
		return check.WriteTable, nil
	case "json":
		return check.WriteJSON, nil
	case "junit":
		return check.WriteJUnit, nil
	}
	return nil, fmt.Errorf("--output %q: use table, json or junit", output)
}
