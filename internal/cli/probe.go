package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// Probe runs `linkmesh probe`.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	cfg := probe.Config{Labels: map[string]string{}}
	var coords, join, standIns listFlag
	var insecureFlag, noGossip bool
	var keyFile, planCache, serverName, dnsServer string
	var tf tlsFlags
	gc := probe.GossipConfig{}
	var lf logFlags
	fs.StringVar(&cfg.Name, "name", host, "unique name of this probe in the mesh")
	fs.StringVar(&cfg.Site, "site", "", "site this probe stands in, e.g. sql (beside SQL Server) or mi (in the MI's VNet) (required)")
	fs.Var(labelFlag(cfg.Labels), "label", "key=value label the path policy can select on (repeatable)")
	fs.Var(&coords, "coordinator", "coordinator gRPC address host:port (repeatable or comma-separated; the probe reports to all)")
	fs.StringVar(&cfg.Responder, "responder", ":5023", "responder listen address other probes measure against (\"\" disables it)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "host or host:port other probes reach the responder at (default: the address the coordinator sees)")
	fs.IntVar(&cfg.BufferSize, "buffer", 100000, "results kept while no coordinator takes them; beyond it the oldest are dropped and counted")
	fs.StringVar(&cfg.SpoolDir, "spool-dir", "", "keep unacked results on disk here too, so a restart loses none (the epoch and sequence numbers continue)")
	fs.StringVar(&cfg.Metrics, "metrics", "", "serve the probe's own /metrics on this address, e.g. :9023 (off by default: a probe opens no port it was not asked to)")
	fs.StringVar(&cfg.WebConfigFile, webConfigFlag, "", webConfigUsage+"; needs --metrics")
	fs.Float64Var(&cfg.ReplayRate, "replay-rate", 1000, "results per second sent to each coordinator at most (paces the replay of a backlog)")
	tf.register(fs, "this probe's certificate (linkmesh certs probe --name NAME; its name must equal --name); it also proves this probe's name to other probes' echo attempts, which then require the same proof from every responder")
	fs.StringVar(&serverName, "tls-server-name", "", "name to check the coordinator's certificate against (default: the host in --coordinator)")
	fs.BoolVar(&insecureFlag, "insecure", false, "use plain gRPC without TLS: results and plans in clear text, no proof of who is who (never across untrusted networks); allows gossip without a mesh key")
	fs.StringVar(&keyFile, "mesh-key-file", "", "file with the mesh key: encrypts gossip and authenticates the echo hello, so every probe of the mesh needs the same one; create one with `linkmesh certs mesh-key`")
	fs.IntVar(&cfg.ResponderMaxConns, "responder-max-conns", 64, "connections the responder handles at once (the oldest unfinished hello is dropped to make room)")
	fs.Var(&standIns, "stand-in", "serve the responder protocol on this port (e.g. 5022) for as long as the probe runs, in place of an endpoint that does not exist yet (repeatable; SQL Server cannot create its endpoint on a port the probe holds)")
	fs.Var((*portList)(&cfg.StandInPorts), "stand-in-ports", "ports a coordinator's check round may ask this probe to serve a stand-in on (comma-separated; others are refused, never bound; default 5022)")
	fs.BoolVar(&noGossip, "no-gossip", false, "stay out of the gossip cluster (the coordinator then knows this probe only by its reports)")
	fs.StringVar(&gc.Bind, "gossip-bind", ":7946", "gossip listen address, TCP and UDP")
	fs.StringVar(&gc.Advertise, "gossip-advertise", "", "host[:port] other members reach this probe's gossip at (NAT)")
	fs.Var(&join, "join", "gossip seed host[:port] (repeatable; default: the --coordinator hosts on port 7946)")
	fs.StringVar(&gc.Profile, "gossip-profile", "wan", "gossip timing: wan (sites across VPN/ExpressRoute), lan or local")
	fs.StringVar(&planCache, "plan-cache", "default", "file that keeps the latest plan so probing goes on across restarts while no coordinator answers (\"default\": in the user cache directory; \"off\" disables)")
	fs.StringVar(&dnsServer, "dns-server", "", "send the dns kind's queries to this DNS server (IP[:port]) instead of the system's, e.g. the DNS server of the MI's VNet")
	lf.register(fs, "info")
	fs.Usage = func() {
		io.WriteString(stderr, "usage: linkmesh probe --site SITE --coordinator HOST:PORT (--tls-ca ca.crt --tls-cert NAME.crt --tls-key NAME.key --mesh-key-file FILE | --insecure) [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg.Coordinators = coords
	cfg.Creds = insecure.NewCredentials() // replaced below unless --insecure
	for _, p := range standIns {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return usageErrorf("--stand-in %q: give a TCP port, e.g. 5022", p)
		}
		cfg.StandIns = append(cfg.StandIns, uint32(n))
	}
	cfg.Insecure = insecureFlag
	if dnsServer != "" {
		if cfg.DNSServer, err = parseDNSServer(dnsServer); err != nil {
			return &UsageError{Err: err}
		}
	}
	if !noGossip {
		gc.Join = join
		cfg.Gossip = &gc
	}
	if keyFile != "" {
		if cfg.MeshKey, cfg.MeshKeysAccepted, err = meshkey.LoadRing(keyFile); err != nil {
			return &UsageError{Err: err}
		}
	}
	switch planCache {
	case "default":
		cfg.PlanCache = probe.DefaultPlanCache(cfg.Name)
	case "off", "":
	default:
		cfg.PlanCache = planCache
	}
	if err := cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	switch {
	case insecureFlag && !tf.empty():
		return usageErrorf("probe: --insecure and --tls-* exclude each other; drop one")
	case insecureFlag:
		logger.Warn("gRPC without TLS (--insecure): results and plans travel in clear text, and the coordinator cannot tell this probe from an impostor")
		cfg.Creds = insecure.NewCredentials()
	default:
		if err := tf.files().Check("--tls-"); err != nil {
			return &UsageError{Err: fmt.Errorf("probe: %w, or pass --insecure", err)}
		}
		src, err := tlsconf.NewSource(tf.files(), logger.With("component", "tls"))
		if err != nil {
			return &UsageError{Err: err}
		}
		name, err := tlsconf.ProbeName(src.Current().Leaf)
		if err != nil {
			return &UsageError{Err: fmt.Errorf("--tls-cert %s: %w; issue one with `linkmesh certs probe --name %s`", tf.cert, err, cfg.Name)}
		}
		if name != cfg.Name {
			return usageErrorf("--tls-cert %s is for probe %q, but --name is %q: the coordinator would refuse every call; use --name %s or issue a certificate with `linkmesh certs probe --name %s`", tf.cert, name, cfg.Name, name, cfg.Name)
		}
		cfg.Creds = tlsconf.ClientCredentials(src, serverName)
		cfg.TLS = src // the echo hello proves and checks probe names with it
	}
	a, err := probe.New(cfg, logger)
	if err != nil {
		return err
	}
	if handled, err := AsService(ctx, "linkmesh-probe", a.Run); handled {
		return err
	}
	return a.Run(ctx)
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
