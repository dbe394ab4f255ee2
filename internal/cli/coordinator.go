package cli

import (
	"context"
	"io"
	"path/filepath"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/sync/errgroup"
)

// Coordinator runs `linkmesh coordinator`.
func Coordinator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("coordinator", `usage: linkmesh coordinator --config FILE [--tls-ca ca.crt --tls-cert coord.crt --tls-key coord.key | --insecure] [flags]
       linkmesh coordinator --config FILE --check-config

Runs a coordinator: it plans what every probe measures, takes their results,
exports them on /metrics and answers check rounds. See docs/configuration.md.`, args, stdout, stderr)
	var file, stateDir, webConfig string
	var insecureFlag, checkOnly bool
	var tf tlsFlags
	var lf logFlags
	fs.StringVar(&file, "config", "", "path of the YAML config (required; see docs/configuration.md)")
	tf.register(fs, "the coordinator's certificate (linkmesh certs server)")
	fs.StringVar(&stateDir, "state-dir", "", "directory for the checkpoint of path state and probe cursors (overrides state.dir; empty: nothing survives a restart)")
	fs.BoolVar(&insecureFlag, "insecure", false, "serve plain gRPC without TLS: anyone who reaches the port can report as any probe (never across untrusted networks)")
	fs.StringVar(&webConfig, webConfigFlag, "", webConfigUsage+" (overrides web.config_file in the config)")
	fs.BoolVar(&checkOnly, "check-config", false, "validate the config, print a summary and exit")
	lf.register(fs, "info")
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
	if stateDir != "" {
		if cfg.State.Dir, err = filepath.Abs(stateDir); err != nil {
			return usageErrorf("--state-dir %q: %v", stateDir, err)
		}
	}
	if !tf.empty() {
		if err := tf.files().Check("--tls-"); err != nil {
			return &UsageError{Err: err}
		}
		cfg.TLS = config.TLS{CA: tf.ca, Cert: tf.cert, Key: tf.key}
	}
	if webConfig != "" {
		if err := web.Validate(webConfig); err != nil {
			return usageErrorf("--%s %s: %w", webConfigFlag, webConfig, err)
		}
	}
	if checkOnly {
		return printConfigSummary(stdout, file, cfg, webConfig)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("config: " + w)
	}
	secure := cfg.TLS.CA != ""
	switch {
	case secure && insecureFlag:
		return usageErrorf("coordinator: --insecure and TLS files (--tls-* or tls: in %s) exclude each other; drop one", file)
	case !secure && !insecureFlag:
		return usageErrorf("coordinator: give the TLS files (--tls-ca, --tls-cert, --tls-key, or tls: in the config; create them with `linkmesh certs`) or pass --insecure")
	}
	if insecureFlag {
		logger.Warn("gRPC without TLS (--insecure): anyone who reaches the gRPC port can register and report as any probe, and results cross the network in clear text")
	}
	if cfg.State.Dir == "" {
		logger.Info("no state directory: a restart resets the counters (Prometheus handles the reset) and results counted but not yet scraped are gone; set state.dir or --state-dir to keep them")
	}
	s, err := coordinator.New(cfg, coordinator.Options{Insecure: insecureFlag, WebConfigFile: webConfig}, logger)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return s.WatchConfig(gctx, file, loaded, reloadSignals(gctx)) })
	return g.Wait()
}

func printConfigSummary(w io.Writer, file string, cfg *config.Config, webConfig string) error {
	_, err := io.WriteString(w, file+": ok\n")
	if err != nil {
		return err
	}
	tls := "none: the coordinator starts only with --insecure"
	if cfg.TLS.CA != "" {
		tls = "ca " + cfg.TLS.CA + ", cert " + cfg.TLS.Cert
	}
	state := "none: a restart resets the counters"
	if cfg.State.Dir != "" {
		state = cfg.State.Dir + " (checkpoint every " + cfg.State.SnapshotInterval.String() + ")"
	}
	if webConfig == "" {
		webConfig = cfg.Web.ConfigFile
	}
	httpAuth := "none: /metrics and /api/v1/paths in plain HTTP without authentication"
	if webConfig != "" {
		httpAuth = webConfig
	}
	if _, err := io.WriteString(w, "  tls: "+tls+"\n  web config: "+httpAuth+"\n  state: "+state+"\n"); err != nil {
		return err
	}
	for _, r := range cfg.Paths {
		if _, err := io.WriteString(w, "  rule "+r.Name+" ("+r.Kind+", every "+r.Interval.String()+", timeout "+r.Timeout.String()+")\n"); err != nil {
			return err
		}
	}
	for _, warning := range cfg.Warnings() {
		if _, err := io.WriteString(w, "  warning: "+warning+"\n"); err != nil {
			return err
		}
	}
	return nil
}
