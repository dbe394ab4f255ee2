package cli

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// Probe runs `linkmesh probe`.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	cfg := probe.Config{Labels: map[string]string{}}
	var coords, join listFlag
	var insecureFlag, noGossip bool
	var keyFile, planCache string
	gc := probe.GossipConfig{}
	var lf logFlags
	fs.StringVar(&cfg.Name, "name", host, "unique name of this probe in the mesh")
	fs.StringVar(&cfg.Site, "site", "", "site this probe stands in, e.g. sql (beside SQL Server) or mi (in the MI's VNet) (required)")
	fs.Var(labelFlag(cfg.Labels), "label", "key=value label the path policy can select on (repeatable)")
	fs.Var(&coords, "coordinator", "coordinator gRPC address host:port (repeatable or comma-separated; the probe reports to all)")
	fs.StringVar(&cfg.Responder, "responder", ":5023", "responder listen address other probes measure against (\"\" disables it)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "host or host:port other probes reach the responder at (default: the address the coordinator sees)")
	fs.IntVar(&cfg.BufferSize, "buffer", 100000, "results kept while no coordinator takes them; beyond it the oldest are dropped and counted")
	fs.BoolVar(&insecureFlag, "insecure", false, "use plain gRPC without TLS (required until mTLS lands; never across untrusted networks); allows gossip without a mesh key")
	fs.StringVar(&keyFile, "mesh-key-file", "", "file with the mesh key (encrypts gossip); create one with `linkmesh certs mesh-key`")
	fs.BoolVar(&noGossip, "no-gossip", false, "stay out of the gossip cluster (the coordinator then knows this probe only by its reports)")
	fs.StringVar(&gc.Bind, "gossip-bind", ":7946", "gossip listen address, TCP and UDP")
	fs.StringVar(&gc.Advertise, "gossip-advertise", "", "host[:port] other members reach this probe's gossip at (NAT)")
	fs.Var(&join, "join", "gossip seed host[:port] (repeatable; default: the --coordinator hosts on port 7946)")
	fs.StringVar(&gc.Profile, "gossip-profile", "wan", "gossip timing: wan (sites across VPN/ExpressRoute), lan or local")
	fs.StringVar(&planCache, "plan-cache", "default", "file that keeps the latest plan so probing goes on across restarts while no coordinator answers (\"default\": in the user cache directory; \"off\" disables)")
	lf.register(fs, "info")
	fs.Usage = func() {
		io.WriteString(stderr, "usage: linkmesh probe --site SITE --coordinator HOST:PORT --mesh-key-file FILE --insecure [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	if !insecureFlag {
		return usageErrorf("this build speaks only plain gRPC: pass --insecure (mTLS is planned; see docs/security.md)")
	}
	logger.Warn("gRPC without TLS (--insecure): results and plans travel in clear text")
	cfg.Coordinators = coords
	cfg.Creds = insecure.NewCredentials()
	cfg.Insecure = insecureFlag
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
	a, err := probe.New(cfg, logger)
	if err != nil {
		return err
	}
	if handled, err := AsService(ctx, "linkmesh-probe", a.Run); handled {
		return err
	}
	return a.Run(ctx)
}
