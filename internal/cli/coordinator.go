package cli

import (
	"context"
	"flag"
	"io"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"golang.org/x/sync/errgroup"
)

// Coordinator runs `linkmesh coordinator`.
func Coordinator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var file string
	var insecureFlag, checkOnly bool
	var lf logFlags
	fs.StringVar(&file, "config", "", "path of the YAML config (required; see docs/configuration.md)")
	fs.BoolVar(&insecureFlag, "insecure", false, "serve plain gRPC without TLS (required until mTLS lands; never across untrusted networks)")
	fs.BoolVar(&checkOnly, "check-config", false, "validate the config, print a summary and exit")
	lf.register(fs, "info")
	fs.Usage = func() {
		io.WriteString(stderr, "usage: linkmesh coordinator --config FILE --insecure [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	if file == "" {
		return usageErrorf("coordinator: --config FILE is required (an example: deploy/examples/coordinator.yaml)")
	}
	loaded := coordinator.ModTime(file)
	cfg, err := config.Load(file)
	if err != nil {
		return &UsageError{Err: err}
	}
	if checkOnly {
		return printConfigSummary(stdout, file, cfg)
	}
	if !insecureFlag {
		return usageErrorf("this build speaks only plain gRPC: pass --insecure (mTLS is planned; see docs/security.md)")
	}
	logger.Warn("gRPC without TLS (--insecure): probes are not authenticated")
	s, err := coordinator.New(cfg, coordinator.Options{Insecure: insecureFlag}, logger)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return s.WatchConfig(gctx, file, loaded, reloadSignals(gctx)) })
	return g.Wait()
}

func printConfigSummary(w io.Writer, file string, cfg *config.Config) error {
	_, err := io.WriteString(w, file+": ok\n")
	if err != nil {
		return err
	}
	for _, r := range cfg.Paths {
		if _, err := io.WriteString(w, "  rule "+r.Name+" (every "+r.Interval.String()+", timeout "+r.Timeout.String()+")\n"); err != nil {
			return err
		}
	}
	return nil
}
