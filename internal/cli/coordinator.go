package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/sync/errgroup"
)

// Coordinator runs `linkmesh coordinator`.
func Coordinator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("coordinator", `usage: linkmesh coordinator --config FILE [--tls-ca ca.crt --tls-cert coord.crt --tls-key coord.key | --insecure] [flags]
       linkmesh coordinator --config FILE --check-config

Runs a coordinator: it plans what every probe measures, takes their results,
exports them on /metrics and answers check rounds. See docs/configuration.md.`, args, stdout, stderr)
	var file, stateDir, webConfig, meshKeyFile string
	var insecureFlag, checkOnly bool
	var tf tlsFlags
	var lf logFlags
	fs.StringVar(&file, "config", "", "path of the YAML config (required; see docs/configuration.md)")
	tf.register(fs, "the coordinator's certificate (linkmesh certs server)")
	fs.StringVar(&stateDir, "state-dir", "", "directory for the checkpoint of path state and probe cursors (overrides state.dir; empty: nothing survives a restart)")
	fs.BoolVar(&insecureFlag, "insecure", false, "serve plain gRPC without TLS: anyone who reaches the port can report as any probe (never across untrusted networks)")
	fs.StringVar(&webConfig, webConfigFlag, "", webConfigUsage+" (overrides web.config_file in the config)")
	fs.StringVar(&meshKeyFile, "mesh-key-file", "", "file with the mesh key (overrides mesh_key_file in the config; e.g. a systemd credential)")
	fs.BoolVar(&checkOnly, "check-config", false, "validate the config and check the files the start needs (TLS, mesh key, state and web config), print a summary and exit")
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
	if meshKeyFile != "" {
		cfg.MeshKeyFile = meshKeyFile
	}
	if err := checkStart(file, cfg, insecureFlag, checkOnly); err != nil {
		return &UsageError{Err: err}
	}
	if checkOnly {
		return printConfigSummary(stdout, file, cfg, webConfig)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("config: " + w)
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

// checkStart checks what a start of the coordinator needs beyond a valid
// config: TLS files or --insecure, and with --check-config (full) also that
// the TLS material and the mesh key load and the state directory can be
// made. It reports every problem it finds.
func checkStart(file string, cfg *config.Config, insecureFlag, full bool) error {
	secure := cfg.TLS.CA != ""
	switch {
	case secure && insecureFlag:
		return fmt.Errorf("coordinator: --insecure and TLS files (--tls-* or tls: in %s) exclude each other; drop one", file)
	case !secure && !insecureFlag:
		return errors.New("coordinator: give the TLS files (--tls-ca, --tls-cert, --tls-key, or tls: in the config; create them with `linkmesh certs`) or pass --insecure")
	case !full:
		return nil
	}
	var errs []error
	if secure {
		if _, err := tlsconf.NewSource(tlsconf.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}, slog.New(slog.DiscardHandler)); err != nil {
			errs = append(errs, err)
		}
	}
	if !cfg.Gossip.Disabled {
		switch {
		case cfg.MeshKeyFile != "":
			if _, _, err := meshkey.LoadRing(cfg.MeshKeyFile); err != nil {
				errs = append(errs, fmt.Errorf("mesh_key_file %s: %w", cfg.MeshKeyFile, err))
			}
		case !insecureFlag:
			errs = append(errs, errors.New("gossip needs the mesh key: set mesh_key_file (or --mesh-key-file; create one with `linkmesh certs mesh-key`), or turn gossip off with gossip: {disabled: true}"))
		}
	}
	if dir := cfg.State.Dir; dir != "" {
		if err := writableDir(dir); err != nil {
			errs = append(errs, fmt.Errorf("state dir %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// writableDir reports whether dir is a writable directory, or could be made
// as one (its nearest existing parent is a writable directory), without
// creating anything.
func writableDir(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist) && filepath.Dir(d) != d:
			continue
		case err != nil:
			return err
		case !fi.IsDir():
			return fmt.Errorf("%s is not a directory", d)
		}
		f, err := os.CreateTemp(d, ".linkmesh-check-*")
		if err != nil {
			return fmt.Errorf("cannot write in %s: %w", d, err)
		}
		f.Close()
		return os.Remove(f.Name())
	}
}
