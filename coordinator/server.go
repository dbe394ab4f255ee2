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
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/exporter"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/internal/gossip"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Limits on gRPC traffic; a batch of pathstate.MaxBatch results is well under them.
const (
	maxRecvMsgSize       = 4 << 20
	maxConcurrentStreams = 100
	// shutdownGrace is how long graceful shutdown may take before connections are cut.
	shutdownGrace = 5 * time.Second
)

// Server is one coordinator. Create it with New, then Run it.
type Server struct {
	logger *slog.Logger
	cfg    atomic.Pointer[config.Config]
	store  *pathstate.Store
	plans  *planner
	reg    *prometheus.Registry

	grpcLis net.Listener
	httpLis net.Listener
	grpc    *grpc.Server
	http    *http.Server
	ready   atomic.Bool
	gossip  *gossip.Node

	ingested   prometheus.Counter
	duplicates prometheus.Counter
	rejected   *prometheus.CounterVec

	reloadFailures prometheus.Counter
}

// Options are the coordinator's settings that do not come from its config file.
type Options struct {
	// Insecure allows plain gRPC and, without a mesh key, clear-text gossip.
	Insecure bool
	// MeshKey overrides the config's mesh_key_file (the demo generates one).
	MeshKey []byte
}

// New opens the coordinator's listeners (so a port in use fails here, before
// anything runs) and builds the server.
func New(cfg *config.Config, opts Options, logger *slog.Logger) (*Server, error) {
	s := &Server{
		logger: logger,
		store:  pathstate.New(time.Now),
		reg:    prometheus.NewRegistry(),
	}
	s.cfg.Store(cfg)
	s.plans = newPlanner(s.store, s.cfg.Load, logger)
	s.ingested = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_results_ingested_total",
		Help: "Results counted into path state.",
	})
	s.duplicates = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_results_duplicate_total",
		Help: "Results received again (replays) and not counted twice.",
	})
	s.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_requests_rejected_total",
		Help: "Requests refused, by reason (invalid, unknown_probe).",
	}, []string{"reason"})
	s.reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_config_reload_failures_total",
		Help: "Config reloads refused (the file did not validate); the running config stayed.",
	})
	srvMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	s.reg.MustRegister(
		exporter.New(s.store, func() time.Duration { return s.cfg.Load().StaleAfter }, gossip.NodeName(gossip.Meta{Role: gossip.RoleCoordinator, Name: cfg.Name})),
		s.ingested, s.duplicates, s.rejected, s.reloadFailures, srvMetrics,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "linkmesh_coordinator_targets_left_out",
			Help: "Targets the policy expands to beyond limits.max_paths, left out of plans (0 when all fit).",
		}, func() float64 { return float64(s.plans.leftOut.Load()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	recoveryOpt := recovery.WithRecoveryHandler(func(p any) error {
		logger.Error("panic in gRPC handler", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(maxRecvMsgSize),
		grpc.MaxConcurrentStreams(maxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.ChainUnaryInterceptor(srvMetrics.UnaryServerInterceptor(), recovery.UnaryServerInterceptor(recoveryOpt)),
		grpc.ChainStreamInterceptor(srvMetrics.StreamServerInterceptor(), recovery.StreamServerInterceptor(recoveryOpt)),
	)
	linkmeshv1.RegisterMeshServiceServer(s.grpc, &service{s: s})
	srvMetrics.InitializeMetrics(s.grpc)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	var err error
	if s.grpcLis, err = net.Listen("tcp", cfg.Listen.GRPC); err != nil {
		return nil, fmt.Errorf("listen for gRPC on %s: %w", cfg.Listen.GRPC, err)
	}
	if s.httpLis, err = net.Listen("tcp", cfg.Listen.HTTP); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("listen for HTTP on %s: %w", cfg.Listen.HTTP, err)
	}
	if !cfg.Gossip.Disabled {
		key := opts.MeshKey
		var accepted [][]byte
		if key == nil && cfg.MeshKeyFile != "" {
			if key, accepted, err = meshkey.LoadRing(cfg.MeshKeyFile); err != nil {
				s.closeListeners()
				return nil, err
			}
		}
		if key == nil && !opts.Insecure {
			s.closeListeners()
			return nil, errors.New("gossip needs the mesh key: set mesh_key_file in the config (create one with `linkmesh certs mesh-key`), or run with --insecure for clear-text gossip")
		}
		if key == nil {
			logger.Warn("gossip without a mesh key: membership travels in clear text and any host can join")
		}
		if err := s.startGossip(key, accepted); err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) closeListeners() {
	s.grpcLis.Close()
	s.httpLis.Close()
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
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve HTTP: %w", err)
		}
		return nil
	})
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
	s.plans.stop()
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
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down HTTP: %w", err)
	}
	return nil
}
