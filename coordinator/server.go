// Package coordinator is the linkmesh coordinator: it serves the gRPC API probes
// register with, computes each probe's plan from the path policy, ingests their
// results into per-path state, and exports that state on /metrics.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/exporter"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/coordinator/plan"
	"github.com/linkmesh/linkmesh/coordinator/round"
	"github.com/linkmesh/linkmesh/coordinator/statedir"
	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/gossip"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/notify"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Limits on gRPC traffic. A probe's batch is at most 500 results and 1 MiB; the
// bounds multiply: per connection, streams × message size is what a client can
// make the coordinator hold (16 MiB), and admit caps connections per probe.
const (
	maxRecvMsgSize       = 2 << 20
	maxConcurrentStreams = 8
	maxHeaderListSize    = 16 << 10
	// handshakeTimeout bounds a connection's TLS handshake (and HTTP/2 preface).
	handshakeTimeout = 10 * time.Second
	// shutdownGrace is how long graceful shutdown may take before connections are cut.
	shutdownGrace = 5 * time.Second
)

// Server is one coordinator. Create it with New, then Run it.
type Server struct {
	logger *slog.Logger
	cfg    atomic.Pointer[config.Config]
	store  *pathstate.Store
	plans  *plan.Planner
	reg    *prometheus.Registry
	// paths exports the mesh state; /metrics serves it beside reg (exporter.Handler).
	paths *exporter.Collector

	grpcLis net.Listener
	httpLis net.Listener
	grpc    *grpc.Server
	http    *http.Server
	ready   atomic.Bool
	gossip  *gossip.Node

	ingested   prometheus.CounterFunc
	duplicates prometheus.CounterFunc
	rejected   *prometheus.CounterVec
	// ingestStats counts results dropped or clamped by Report (ingeststats.go).
	ingestStats *ingestStats
	// gossipStats counts gossip input not taken in (gossip.go).
	gossipStats gossipStats

	reloadFailures prometheus.Counter

	// rounds runs the on-demand check rounds (package round, rounds.go).
	rounds *round.Runner
	// standInReports is notified whenever a probe reports its stand-ins.
	standInReports notify.Signal

	gate  *admit.Gate
	state *statedir.Saver // nil without a state directory

	// webConfigFile is the exporter-toolkit web config of the HTTP port ("": plain HTTP, no auth).
	webConfigFile string
	// apiSlots holds one token per /api/v1/paths request being answered.
	apiSlots   chan struct{}
	apiRefused prometheus.Counter
	// pathsHook, when set (tests), runs inside handlePaths while it holds its slot.
	pathsHook func()
}

// Options are the coordinator's settings that do not come from its config file.
type Options struct {
	// Insecure allows, without a mesh key, clear-text gossip. (Plain gRPC is
	// what the coordinator serves when cfg.TLS is empty; the CLI allows that
	// only with --insecure.)
	Insecure bool
	// MeshKey overrides the config's mesh_key_file (the demo generates one).
	MeshKey []byte
	// WebConfigFile overrides the config's web.config_file (--web.config.file).
	WebConfigFile string
	// StandInLease overrides plan.StandInLease, the time a probe holds a stand-in
	// after its last renewal (tests shorten it).
	StandInLease time.Duration
	// CheckTimes overrides round.DefaultTimes, the waits of check rounds
	// (tests shorten them).
	CheckTimes round.Times
}

// New opens the coordinator's listeners (so a port in use fails here, before
// anything runs) and builds the server. With cfg.TLS set it serves mTLS only,
// else plain gRPC. With cfg.State.Dir set it restores the last checkpoint from
// there and acks only what is durable.
func New(cfg *config.Config, opts Options, logger *slog.Logger) (_ *Server, err error) {
	s := &Server{
		logger: logger,
		store:  pathstate.New(time.Now),
		reg:    prometheus.NewRegistry(),
	}
	s.cfg.Store(cfg)
	cfg.Limits = cfg.Limits.OrDefault()
	s.store.SetLimits(pathstate.Limits{MaxProbes: cfg.Limits.MaxProbes, MaxPathsPerProbe: cfg.Limits.MaxPathsPerProbe})
	s.store.SetClockSkew(func() time.Duration { return s.cfg.Load().MaxClockSkew })
	s.store.SetAside(round.Owns) // a round's results go to the round, not into paths
	s.plans = plan.New(s.store, s.cfg.Load, logger, opts.StandInLease)
	srvMetrics := s.initMetrics(cfg)
	s.initGate(cfg)
	s.rounds = s.newRounds(opts.CheckTimes)
	if s.grpc, err = s.newGRPC(cfg, srvMetrics); err != nil {
		return nil, err
	}
	// Everything that can fail without side effects comes first, so that a
	// failed start leaves the state directory as it was.
	var key []byte
	var accepted [][]byte
	if !cfg.Gossip.Disabled {
		if key, accepted, err = s.meshKey(cfg, opts); err != nil {
			return nil, err
		}
	}

	// What New opens is closed again, newest first, when a later step fails.
	var opened []func()
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	if cfg.State.Dir != "" {
		if s.state, err = statedir.OpenSaver(cfg.State.Dir, cfg.State.SnapshotInterval, s.store, s.reg, logger.With("component", "state")); err != nil {
			return nil, err
		}
		opened = append(opened, s.state.Close)
	}
	s.applyForget(cfg)
	webFile := opts.WebConfigFile
	if webFile == "" {
		webFile = cfg.Web.ConfigFile
	}
	if err := web.Validate(webFile); err != nil {
		return nil, fmt.Errorf("web config file %s: %w", webFile, err)
	}
	s.initHTTP(logger, webFile)
	if s.grpcLis, err = net.Listen("tcp", cfg.Listen.GRPC); err != nil {
		return nil, fmt.Errorf("listen for gRPC on %s: %w", cfg.Listen.GRPC, err)
	}
	opened = append(opened, func() { s.grpcLis.Close() })
	if s.httpLis, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.Listen.HTTP, err)
	}
	opened = append(opened, func() { s.httpLis.Close() })
	if !cfg.Gossip.Disabled {
		if err := s.startGossip(key, accepted); err != nil {
			return nil, err
		}
	}
	s.grpcLis = s.gate.Listener(s.grpcLis)
	return s, nil
}

// initMetrics registers the coordinator's own metrics and the exporter, and
// returns the gRPC server metrics for the interceptors.
func (s *Server) initMetrics(cfg *config.Config) *grpcprom.ServerMetrics {
	// The store keeps these two (in its checkpoints too, so that with a state
	// directory they continue across a restart or a crash).
	s.ingested = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_results_ingested_total",
		Help: "Results counted into path state.",
	}, func() float64 { return float64(s.store.Totals().Ingested) })
	s.duplicates = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_results_duplicate_total",
		Help: "Results received again (replays) and not counted twice.",
	}, func() float64 { return float64(s.store.Totals().Duplicates) })
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_requests_rejected_total",
		Help: "Requests refused after admission, by reason (invalid, unknown_probe, seq_jump, responder_address).",
	}, []string{"reason"})
	s.ingestStats = newIngestStats(s.reg)
	s.reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_config_reload_failures_total",
		Help: "Config reloads refused (the file did not validate); the running config stayed.",
	})
	s.gossipStats = newGossipStats(s.reg)
	srvMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	s.paths = exporter.New(s.store, func() exporter.Settings {
		cfg := s.cfg.Load()
		return exporter.Settings{StaleAfter: cfg.StaleAfter, RTTHistogram: cfg.Metrics.RTTHistogram == config.RTTHistogramClassic}
	}, gossip.NodeName(gossip.Meta{Role: gossip.RoleCoordinator, Name: cfg.Name}))
	s.reg.MustRegister(
		s.ingested, s.duplicates, s.rejected, s.reloadFailures, srvMetrics,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "linkmesh_coordinator_targets_left_out",
			Help: "Targets the policy expands to beyond limits.max_paths, left out of plans (0 when all fit).",
		}, func() float64 { return float64(s.plans.LeftOut()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector(),
	)
	return srvMetrics
}

// initGate builds the admission gate from cfg's limits.
func (s *Server) initGate(cfg *config.Config) {
	secure := cfg.TLS.CA != ""
	s.gate = admit.New(admit.Limits{
		MaxConnections:            cfg.Limits.MaxConnections,
		MaxConnectionsPerProbe:    cfg.Limits.MaxConnectionsPerProbe,
		MaxPlanStreamsPerProbe:    cfg.Limits.MaxPlanStreamsPerProbe,
		ResultsPerSecondPerProbe:  cfg.Limits.ResultsPerSecondPerProbe,
		RequestsPerSecondPerProbe: cfg.Limits.RequestsPerSecondPerProbe,
		MaxTrackedProbes:          2 * cfg.Limits.MaxProbes,
		MaxBatch:                  pathstate.MaxBatch,
	}, secure, s.logger.With("component", "admit"), s.reg)
}

// newGRPC builds the gRPC server: limits, keepalives, mTLS when cfg.TLS is
// set, and the interceptors (metrics, panic recovery, admission).
func (s *Server) newGRPC(cfg *config.Config, srvMetrics *grpcprom.ServerMetrics) (*grpc.Server, error) {
	gopts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(newCodec()),
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.MaxHeaderListSize(maxHeaderListSize),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, MaxConnectionIdle: 5 * time.Minute}),
	}
	if cfg.TLS.CA != "" {
		files := tlsconf.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}
		src, err := tlsconf.NewSource(files, s.logger.With("component", "tls"))
		if err != nil {
			return nil, err
		}
		gopts = append(gopts, grpc.Creds(tlsconf.ServerCredentials(src, s.gate.HandshakeHook())))
	}
	recoveryOpt := recovery.WithRecoveryHandler(func(p any) error {
		s.logger.Error("panic in gRPC handler", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	gopts = append(gopts,
		grpc.ChainUnaryInterceptor(srvMetrics.UnaryServerInterceptor(), recovery.UnaryServerInterceptor(recoveryOpt), s.gate.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(srvMetrics.StreamServerInterceptor(), recovery.StreamServerInterceptor(recoveryOpt), s.gate.StreamInterceptor()),
	)
	srv := grpc.NewServer(gopts...)
	linkmeshv1.RegisterMeshServiceServer(srv, &service{s: s})
	srvMetrics.InitializeMetrics(srv)
	return srv, nil
}

// meshKey loads the mesh key gossip needs (opts.MeshKey, else the config's
// mesh_key_file), or refuses to gossip in clear text without opts.Insecure.
func (s *Server) meshKey(cfg *config.Config, opts Options) (key []byte, accepted [][]byte, err error) {
	key = opts.MeshKey
	if key == nil && cfg.MeshKeyFile != "" {
		if key, accepted, err = meshkey.LoadRing(cfg.MeshKeyFile); err != nil {
			return nil, nil, err
		}
	}
	if key == nil && !opts.Insecure {
		return nil, nil, errors.New("gossip needs the mesh key: set mesh_key_file in the config (create one with `linkmesh certs mesh-key`), or turn gossip off with gossip: {disabled: true} (a test setup without TLS may use --insecure for clear-text gossip)")
	}
	if key == nil {
		s.logger.Warn("gossip without a mesh key: membership travels in clear text and any host can join")
	}
	return key, accepted, nil
}

// closeListeners releases what New opened, for a server that will not Run.
func (s *Server) closeListeners() {
	s.grpcLis.Close()
	s.httpLis.Close()
	if s.state != nil {
		s.state.Close()
	}
}

// GRPCAddr is the address the gRPC API listens on.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// HTTPAddr is the address /metrics and the API listen on.
func (s *Server) HTTPAddr() net.Addr { return s.httpLis.Addr() }

// Store gives in-process callers (the demo) read access to the mesh state.
func (s *Server) Store() *pathstate.Store { return s.store }

// StaleAfter is the current stale-after window.
func (s *Server) StaleAfter() time.Duration { return s.cfg.Load().StaleAfter }

// Run serves until ctx is done, then shuts down gracefully: plan streams end, the
// HTTP server drains, and after shutdownGrace remaining connections are cut.
func (s *Server) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("serve gRPC: %w", err)
		}
		return nil
	})
	g.Go(s.serveHTTP)
	g.Go(func() error { return s.forgetLoop(ctx) })
	if s.state != nil {
		g.Go(func() error { return s.state.Run(ctx) })
	}
	if s.gossip != nil {
		gctx, stopGossip := context.WithCancel(context.WithoutCancel(ctx))
		gossipDone := make(chan error, 1)
		go func() { gossipDone <- s.gossip.Run(gctx) }()
		defer func() {
			// Gossip leaves last, after the gRPC server stopped.
			stopGossip()
			<-gossipDone
		}()
		g.Go(func() error { return s.followGossip(ctx) })
	}
	g.Go(func() error {
		s.ready.Store(true)
		s.logger.Info("coordinator serving", "grpc", s.GRPCAddr().String(), "http", s.HTTPAddr().String(), "gossip", s.GossipAddr(), "rules", len(s.cfg.Load().Paths))
		<-ctx.Done()
		s.ready.Store(false)
		return s.shutdown()
	})
	return g.Wait()
}

func (s *Server) shutdown() error {
	s.plans.Stop()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(shutdownGrace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn("graceful stop timed out; closing remaining gRPC connections")
		s.grpc.Stop()
		<-stopped
	}
	if s.state != nil {
		s.state.Final() // nothing is ingested any more: the last checkpoint is complete
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down HTTP: %w", err)
	}
	return nil
}
