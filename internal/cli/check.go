package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/check"
	"github.com/linkmesh/linkmesh/internal/check/sqlserver"
)

// dsnEnv is the environment variable read when --sql-dsn is not given, so the
// password need not appear on the command line.
const dsnEnv = "LINKMESH_SQL_DSN"

// checkFlags are the flags of `linkmesh check`, as typed.
type checkFlags struct {
	mi, miSubnet, miNode, hadrPorts, sqlEndpoint string
	sqlDSN, databaseSize, dnsServer, output      string
	coordinator                                  string
	hadrSample                                   int
	databases                                    listFlag
	timeout                                      time.Duration
}

// Check runs `linkmesh check`: it tests every requirement of the MI link it can
// reach from this host, prints the report on stdout and progress on stderr, and
// returns nil when every required row passed, an error (exit code 1) when one
// failed, and a UsageError (exit code 2) for bad flags.
func Check(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f checkFlags
	fs.StringVar(&f.mi, "mi", "", "the MI's VNet-local FQDN, e.g. sqlmi1.abc123def456.database.windows.net (required)")
	fs.StringVar(&f.miSubnet, "mi-subnet", "", "the MI subnet's CIDR, e.g. 10.0.1.0/24: D1 requires the MI's address in it, and the fixes use it")
	fs.StringVar(&f.miNode, "mi-node", "", "an MI node, host[:port], for P2 (default: the MI's own address); with a port, only that port is tried")
	fs.StringVar(&f.hadrPorts, "hadr-ports", check.DefaultHADRPorts.String(), "the MI nodes' HADR port range P2 samples")
	fs.IntVar(&f.hadrSample, "hadr-sample", 4, "how many ports of --hadr-ports P2 tries, chosen at random")
	fs.StringVar(&f.sqlEndpoint, "sql-endpoint", fmt.Sprintf("127.0.0.1:%d", check.SQLEndpointPort), "SQL Server's mirroring endpoint on this host, host:port (\"none\": skip EP); its port is the one the link must use")
	fs.StringVar(&f.sqlDSN, "sql-dsn", "", "SQL Server connection string for the readiness rows, e.g. \"sqlserver://localhost?database=master\" (default: $"+dsnEnv+"; none: no readiness rows)")
	fs.Var(&f.databases, "databases", "databases to replicate, comma-separated: FULL recovery and a full backup (needs --sql-dsn)")
	fs.StringVar(&f.databaseSize, "database-size", "", "total size of the databases to seed, e.g. 500GB or 2TiB, for a seeding-time estimate")
	fs.StringVar(&f.dnsServer, "dns-server", "", "send DNS queries to this server (IP[:port]) instead of the system's, e.g. a DNS server in the MI's VNet")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "deadline of each connection attempt, lookup and SQL query")
	fs.StringVar(&f.output, "output", "table", "report format: table, json or junit")
	fs.StringVar(&f.coordinator, "coordinator", "", "coordinated mode: test both directions through the mesh (not in this build yet)")
	fs.Usage = func() {
		io.WriteString(stderr, "usage: linkmesh check --mi FQDN [flags]\n\nRun on the SQL Server host. Tests the MI link's requirements and prints a report;\nexit code 0: every required row passed, 1: one failed, 2: bad flags.\n\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, inputs, err := f.config()
	if err != nil {
		return &UsageError{Err: err}
	}
	render, err := renderer(f.output)
	if err != nil {
		return &UsageError{Err: err}
	}

	checks := check.Standalone(cfg)
	if dsn := f.dsn(); dsn != "" {
		db, err := sqlserver.Open(dsn)
		if err != nil {
			return &UsageError{Err: err}
		}
		defer db.Close()
		port := uint16(check.SQLEndpointPort)
		if _, p, err := net.SplitHostPort(cfg.SQLEndpoint); err == nil {
			n, _ := strconv.ParseUint(p, 10, 16)
			port = uint16(n)
		}
		checks = append(checks, sqlserver.Checks(db, sqlserver.Options{EndpointPort: port, Databases: f.databases, Timeout: cfg.Timeout})...)
		inputs.SQLReadiness = true
	} else if len(f.databases) > 0 {
		return usageErrorf("--databases needs --sql-dsn (or $%s): the recovery model and backups are read from SQL Server", dsnEnv)
	}

	host, _ := os.Hostname()
	fmt.Fprintf(stderr, "linkmesh check: %d rows for MI %s (each attempt waits up to %s)\n", len(checks), cfg.MI, cfg.Timeout)
	started := time.Now()
	rows := check.Run(ctx, checks, stderr)
	report := check.Report{
		Mode: "standalone", Host: host, Version: buildinfo.Version(),
		Started: started, Duration: time.Since(started),
		Inputs: inputs, Rows: rows,
		Seeding: check.EstimateSeeding(inputs.DatabaseSize, 0),
	}
	if err := render(stdout, report); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if ctx.Err() != nil {
		return errors.New("interrupted: the report is incomplete")
	}
	if failed := report.Failures(); len(failed) > 0 {
		ids := make([]string, len(failed))
		for i, r := range failed {
			ids[i] = r.ID
		}
		return fmt.Errorf("not ready: %s failed (the report says why and how to fix it)", strings.Join(ids, ", "))
	}
	return nil
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
	if f.coordinator != "" {
		return cfg, in, errors.New("--coordinator: the coordinated mode (both directions through probes, echo, MTU, throughput) is not in this build yet; run without it for the standalone checks from this host")
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
