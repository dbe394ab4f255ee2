package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe"
	"github.com/linkmesh/linkmesh/probe/sqlstate"
	"google.golang.org/grpc/credentials/insecure"
)

// Probe runs `linkmesh probe`.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", `usage: linkmesh probe --site SITE --coordinator HOST:PORT (--tls-ca ca.crt --tls-cert NAME.crt --tls-key NAME.key --mesh-key-file FILE | --insecure) [flags]

Runs a probe agent: beside SQL Server (--site sql) or in the MI's virtual
network (--site mi). It measures the paths its coordinators plan, answers
other probes' measurements on --responder, and reports the results.`, args, stdout, stderr)
	f := probeFlags{cfg: probe.Config{Labels: map[string]string{}}}
	f.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := f.lf.logger(stderr)
	if err != nil {
		return err
	}
	logger, closeEvents := serviceLogger(f.serviceName, logger)
	defer closeEvents()
	if err := f.start(logger); err != nil {
		// A service has no console: the reason goes to its log (and the
		// Event Log) too.
		if isService() {
			logger.Error("the probe cannot start", "error", err)
		}
		return err
	}
	a, err := probe.New(f.cfg, logger)
	if err != nil {
		if isService() {
			logger.Error("the probe cannot start", "error", err)
		}
		return err
	}
	if handled, err := AsService(ctx, f.serviceName, a.Run); handled {
		return err
	}
	return a.Run(ctx)
}

// probeFlags are the flags of `linkmesh probe`; cfg collects what they set.
type probeFlags struct {
	cfg                                       probe.Config
	coords, join, standIns                    listFlag
	insecure, noGossip                        bool
	keyFile, planCache, serverName, dnsServer string
	tf                                        tlsFlags
	gc                                        probe.GossipConfig
	lf                                        logFlags
	serviceName                               string
	maxProcs                                  int
}

func (f *probeFlags) register(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&f.cfg.Name, "name", host, "unique name of this probe in the mesh")
	fs.StringVar(&f.cfg.Site, "site", "", "site this probe stands in, e.g. sql (beside SQL Server) or mi (in the MI's VNet) (required)")
	fs.Var(labelFlag(f.cfg.Labels), "label", "key=value label the path policy can select on (repeatable)")
	fs.Var(&f.coords, "coordinator", "coordinator gRPC address host:port (repeatable or comma-separated; the probe reports to all)")
	fs.StringVar(&f.cfg.Responder, "responder", ":5023", "responder listen address other probes measure against (\"\" disables it)")
	fs.StringVar(&f.cfg.Advertise, "advertise", "", "host or host:port other probes reach the responder at (default: the address the coordinator sees)")
	fs.IntVar(&f.cfg.BufferSize, "buffer", 100000, "results kept while no coordinator takes them; beyond it the oldest are dropped and counted")
	fs.StringVar(&f.cfg.SpoolDir, "spool-dir", "", "keep unacked results on disk here too, so a restart loses none (the epoch and sequence numbers continue)")
	fs.StringVar(&f.cfg.Metrics, "metrics", "", "serve the probe's own /metrics on this address, e.g. :9023 (off by default: a probe opens no port it was not asked to)")
	fs.StringVar(&f.cfg.WebConfigFile, webConfigFlag, "", webConfigUsage+"; needs --metrics")
	fs.StringVar(&f.cfg.SQLDSN, "sql-dsn", "", "on the probe beside SQL Server: a login (go-mssqldb connection string) whose link state — replica connected, queues, lag, seeding, endpoint certificate — the probe reads from SQL Server's views and exports as linkmesh_sql_* on --metrics (default: $"+dsnEnv+" when --metrics is given; needs --metrics and VIEW SERVER STATE, VIEW ANY DEFINITION)")
	fs.DurationVar(&f.cfg.SQLInterval, "sql-interval", sqlstate.DefaultInterval, "how often --sql-dsn's views are read (at least 5s)")
	fs.Float64Var(&f.cfg.ReplayRate, "replay-rate", 1000, "results per second sent to each coordinator at most (paces the replay of a backlog)")
	f.tf.register(fs, "this probe's certificate (linkmesh certs probe --name NAME; its name must equal --name); it also proves this probe's name to other probes' echo attempts, which then require the same proof from every responder")
	fs.StringVar(&f.serverName, "tls-server-name", "", "name to check the coordinator's certificate against (default: the host in --coordinator)")
	fs.BoolVar(&f.insecure, "insecure", false, "use plain gRPC without TLS: results and plans in clear text, no proof of who is who (never across untrusted networks); allows gossip without a mesh key")
	fs.StringVar(&f.keyFile, "mesh-key-file", "", "file with the mesh key: encrypts gossip and authenticates the echo hello, so every probe of the mesh needs the same one; create one with `linkmesh certs mesh-key`")
	fs.IntVar(&f.cfg.ResponderMaxConns, "responder-max-conns", 64, "connections the responder handles at once (the oldest unfinished hello is dropped to make room)")
	fs.Var(&f.standIns, "stand-in", "serve the responder protocol on this port (e.g. 5022) for as long as the probe runs, in place of an endpoint that does not exist yet (repeatable; SQL Server cannot create its endpoint on a port the probe holds)")
	fs.Var((*portList)(&f.cfg.StandInPorts), "stand-in-ports", "ports a coordinator's check round may ask this probe to serve a stand-in on (comma-separated; others are refused, never bound; default 5022)")
	fs.BoolVar(&f.noGossip, "no-gossip", false, "stay out of the gossip cluster (the coordinator then knows this probe only by its reports)")
	fs.StringVar(&f.gc.Bind, "gossip-bind", ":7946", "gossip listen address, TCP and UDP")
	fs.StringVar(&f.gc.Advertise, "gossip-advertise", "", "host[:port] other members reach this probe's gossip at (NAT)")
	fs.Var(&f.join, "join", "gossip seed host[:port] (repeatable; default: the --coordinator hosts on port 7946)")
	fs.StringVar(&f.gc.Profile, "gossip-profile", "wan", "gossip timing: wan (sites across VPN/ExpressRoute), lan or local")
	fs.StringVar(&f.planCache, "plan-cache", "default", "file that keeps the latest plan so probing goes on across restarts while no coordinator answers (\"default\": in the user cache directory; \"off\" disables)")
	fs.StringVar(&f.dnsServer, "dns-server", "", "send the dns kind's queries to this DNS server (IP[:port]) instead of the system's, e.g. the DNS server of the MI's VNet")
	fs.IntVar(&f.maxProcs, "max-procs", 1, "cores the probe runs Go code on at once (0: every core). 1 keeps its scheduler's wake-ups, and so its CPU use, low (docs/benchmarks.md#probe-footprint); the GOMAXPROCS environment variable overrides it")
	f.lf.register(fs, "info")
	fs.StringVar(&f.serviceName, "windows-service-name", DefaultServiceName, "Windows: the service's name, its Event Log source (linkmesh service install sets it)")
}

// start completes and checks f.cfg: config, then credentials; and sets
// the scheduler's cores (--max-procs).
func (f *probeFlags) start(logger *slog.Logger) error {
	if err := f.config(); err != nil {
		return err
	}
	if err := f.credentials(logger); err != nil {
		return err
	}
	if f.maxProcs > 0 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(f.maxProcs)
	}
	logger.Debug("scheduler", "gomaxprocs", runtime.GOMAXPROCS(0))
	return nil
}

// config completes f.cfg from the parsed flags (all but the TLS credentials)
// and validates it.
func (f *probeFlags) config() error {
	if f.maxProcs < 0 {
		return usageErrorf("--max-procs %d: give 1 (the default), another number of cores, or 0 for every core", f.maxProcs)
	}
	f.cfg.Coordinators = f.coords
	if f.cfg.SQLDSN == "" && f.cfg.Metrics != "" {
		// From the environment only where it can be exported: the same
		// variable serves linkmesh check on this host.
		f.cfg.SQLDSN = os.Getenv(dsnEnv)
	}
	f.cfg.Creds = insecure.NewCredentials() // replaced below unless --insecure
	for _, p := range f.standIns {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return usageErrorf("--stand-in %q: give a TCP port, e.g. 5022", p)
		}
		f.cfg.StandIns = append(f.cfg.StandIns, uint32(n))
	}
	f.cfg.Insecure = f.insecure
	if f.dnsServer != "" {
		var err error
		if f.cfg.DNSServer, err = parseDNSServer(f.dnsServer); err != nil {
			return &UsageError{Err: err}
		}
	}
	if !f.noGossip {
		f.gc.Join = f.join
		f.cfg.Gossip = &f.gc
	}
	if f.keyFile != "" {
		var err error
		if f.cfg.MeshKey, f.cfg.MeshKeysAccepted, err = meshkey.LoadRing(f.keyFile); err != nil {
			return &UsageError{Err: err}
		}
	}
	switch f.planCache {
	case "default":
		f.cfg.PlanCache = probe.DefaultPlanCache(f.cfg.Name)
	case "off", "":
	default:
		f.cfg.PlanCache = f.planCache
	}
	if err := f.cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// credentials sets f.cfg's gRPC credentials: plain under --insecure, else
// mTLS from the --tls-* files, whose certificate must name this probe.
func (f *probeFlags) credentials(logger *slog.Logger) error {
	switch {
	case f.insecure && !f.tf.empty():
		return usageErrorf("probe: --insecure and --tls-* exclude each other; drop one")
	case f.insecure:
		logger.Warn("gRPC without TLS (--insecure): results and plans travel in clear text, and the coordinator cannot tell this probe from an impostor")
		f.cfg.Creds = insecure.NewCredentials()
	default:
		if err := f.tf.files().Check("--tls-"); err != nil {
			return &UsageError{Err: fmt.Errorf("probe: %w, or pass --insecure", err)}
		}
		src, err := tlsconf.NewSource(f.tf.files(), logger.With("component", "tls"))
		if err != nil {
			return &UsageError{Err: err}
		}
		name, err := tlsconf.ProbeName(src.Current().Leaf)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--tls-cert %s: %w; issue one with `linkmesh certs probe --name %s`", f.tf.cert, err, f.cfg.Name)}
		}
		if name != f.cfg.Name {
			return usageErrorf("--tls-cert %s is for probe %q, but --name is %q: the coordinator would refuse every call; use --name %s or issue a certificate with `linkmesh certs probe --name %s`", f.tf.cert, name, f.cfg.Name, name, f.cfg.Name)
		}
		f.cfg.Creds = tlsconf.ClientCredentials(src, f.serverName)
		f.cfg.TLS = src // the echo hello proves and checks probe names with it
	}
	return nil
}

// parseDNSServer reads --dns-server: an IP address, with an optional port (53).
func parseDNSServer(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--dns-server %q: give the DNS server's IP address, optionally with a port (10.0.0.4 or 10.0.0.4:53)", s)
	}
	return netip.AddrPortFrom(a, 53), nil
}
