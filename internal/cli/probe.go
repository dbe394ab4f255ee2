package cli

import (
	"context"
	"flag"
	"io"
	"os"
	"strconv"

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
	var coords, standIns listFlag
	var insecureFlag bool
	var keyFile string
	var lf logFlags
	fs.StringVar(&cfg.Name, "name", host, "unique name of this probe in the mesh")
	fs.StringVar(&cfg.Site, "site", "", "site this probe stands in, e.g. sql (beside SQL Server) or mi (in the MI's VNet) (required)")
	fs.Var(labelFlag(cfg.Labels), "label", "key=value label the path policy can select on (repeatable)")
	fs.Var(&coords, "coordinator", "coordinator gRPC address host:port (repeatable or comma-separated; the probe reports to all)")
	fs.StringVar(&cfg.Responder, "responder", ":5023", "responder listen address other probes measure against (\"\" disables it)")
	fs.StringVar(&cfg.Advertise, "advertise", "", "host or host:port other probes reach the responder at (default: the address the coordinator sees)")
	fs.IntVar(&cfg.BufferSize, "buffer", 100000, "results kept while no coordinator takes them; beyond it the oldest are dropped and counted")
	fs.StringVar(&keyFile, "mesh-key-file", "", "file with the mesh's shared key: 32 random bytes in base64 (e.g. openssl rand -base64 32); every probe of the mesh needs the same one for echo paths")
	fs.IntVar(&cfg.ResponderMaxConns, "responder-max-conns", 64, "connections the responder handles at once (the oldest unfinished hello is dropped to make room)")
	fs.Var(&standIns, "stand-in", "serve the responder protocol on this port (e.g. 5022) for as long as the probe runs, in place of an endpoint that does not exist yet (repeatable; SQL Server cannot create its endpoint on a port the probe holds)")
	fs.BoolVar(&insecureFlag, "insecure", false, "use plain gRPC without TLS (required until mTLS lands; never across untrusted networks)")
	lf.register(fs, "info")
	fs.Usage = func() {
		io.WriteString(stderr, "usage: linkmesh probe --site SITE --coordinator HOST:PORT --insecure [flags]\n\n")
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
	for _, p := range standIns {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return usageErrorf("--stand-in %q: give a TCP port, e.g. 5022", p)
		}
		cfg.StandIns = append(cfg.StandIns, uint32(n))
	}
	if keyFile != "" {
		key, err := meshkey.Load(keyFile)
		if err != nil {
			return &UsageError{Err: err}
		}
		cfg.MeshKey = key
	}
	if err := cfg.Validate(); err != nil {
		return &UsageError{Err: err}
	}
	a, err := probe.New(cfg, logger)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
