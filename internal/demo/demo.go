// Package demo runs a complete linkmesh mesh in one process on loopback: a
// coordinator and two probes, site "sql" (standing in for the SQL Server host) and
// site "mi" (standing in for the MI's VNet), each with a responder, measuring each
// other in both directions. It prints where /metrics is and a table of paths.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/statusview"
	"github.com/linkmesh/linkmesh/probe"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/credentials/insecure"
)

// Options configure a demo run.
type Options struct {
	// Duration ends the demo after this long; 0 runs until ctx is done.
	Duration time.Duration
	// Every is how often the path table is printed.
	Every time.Duration
	// Interval is the probes' attempt interval.
	Interval time.Duration
	// Out receives the URL and the tables.
	Out io.Writer
	// Logger receives the components' logs.
	Logger *slog.Logger
	// Started, if set, is called with the running coordinator once it serves.
	Started func(*coordinator.Server)
}

// policy is the demo's path policy: both directions between the probes, each
// with tcp (the handshake) and echo (proof that the other probe answered, with a
// path-MTU check every tenth attempt).
const policy = `
name: demo
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {bind: "127.0.0.1:0", profile: local}
defaults: {interval: %[1]s, timeout: %[2]s}
stale_after: 30s
paths:
  - name: sql-to-mi
    from: {site: sql}
    to: {site: mi}
  - name: mi-to-sql
    from: {site: mi}
    to: {site: sql}
  - name: sql-to-mi-echo
    from: {site: sql}
    to: {site: mi}
    kind: echo
    echo: {rounds: 5, mtu_every: %[3]s}
  - name: mi-to-sql-echo
    from: {site: mi}
    to: {site: sql}
    kind: echo
    echo: {rounds: 5, mtu_every: %[3]s}
`

// Run runs the demo until ctx is done or opts.Duration has passed.
func Run(ctx context.Context, opts Options) error {
	if opts.Every <= 0 {
		opts.Every = 3 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Duration > 0 {
		// A cancel after the duration, not a deadline: a deadline would travel
		// into the probes' gRPC streams, which could then end a hair before
		// ctx and log the coordinator as unavailable.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := time.AfterFunc(opts.Duration, cancel)
		defer stop.Stop()
	}
	coord, agents, err := build(opts)
	if err != nil {
		return err
	}
	// The probes stop before the coordinator, so none of them logs it going away.
	coordCtx, stopCoord := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCoord()
	coordDone := make(chan error, 1)
	go func() { coordDone <- coord.Run(coordCtx) }()
	// The probes stop after the last table is printed, so it shows them up.
	probeCtx, stopProbes := context.WithCancel(context.WithoutCancel(ctx))
	defer stopProbes()
	g, gctx := errgroup.WithContext(probeCtx)
	for _, a := range agents {
		g.Go(func() error { return a.Run(gctx) })
	}
	show(ctx, gctx, opts, coord)
	stopProbes()
	err = g.Wait()
	stopCoord()
	if cerr := <-coordDone; err == nil {
		err = cerr
	}
	return err
}

// build makes the demo's coordinator and its two probes (not yet running).
func build(opts Options) (*coordinator.Server, []*probe.Agent, error) {
	cfg, err := config.Parse("demo policy", []byte(fmt.Sprintf(policy, opts.Interval, min(800*time.Millisecond, opts.Interval*4/5), 10*opts.Interval)))
	if err != nil {
		return nil, nil, fmt.Errorf("demo policy: %w", err)
	}
	key, err := meshkey.Generate() // in memory only: gossip and the echo hello
	if err != nil {
		return nil, nil, err
	}
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true, MeshKey: key}, opts.Logger.With("component", "coordinator"))
	if err != nil {
		return nil, nil, err
	}
	var agents []*probe.Agent
	for _, site := range []string{"sql", "mi"} {
		a, err := probe.New(probe.Config{
			Name:         site + "-probe",
			Site:         site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			BufferSize:   10000,
			Gossip:       &probe.GossipConfig{Bind: "127.0.0.1:0", Join: []string{coord.GossipAddr()}, Profile: "local"},
			MeshKey:      key,
		}, opts.Logger.With("probe", site+"-probe"))
		if err != nil {
			return nil, nil, err
		}
		agents = append(agents, a)
	}

	return coord, agents, nil
}

// show says where to look, then prints the paths every opts.Every until ctx
// ends (one last table) or a probe fails (gctx).
func show(ctx, gctx context.Context, opts Options, coord *coordinator.Server) {
	fmt.Fprintf(opts.Out, "linkmesh demo: a coordinator and two probes (sites sql and mi) on loopback, measuring each other every %v.\n", opts.Interval)
	fmt.Fprintf(opts.Out, "metrics:\nhttp://%s/metrics\n", coord.HTTPAddr())
	fmt.Fprintf(opts.Out, "status page: http://%s/ (or: linkmesh status --coordinator http://%s --explain)\n", coord.HTTPAddr(), coord.HTTPAddr())
	if opts.Duration > 0 {
		fmt.Fprintf(opts.Out, "running for %v (Ctrl-C ends it sooner)\n\n", opts.Duration)
	} else {
		fmt.Fprintf(opts.Out, "running until Ctrl-C\n\n")
	}
	if opts.Started != nil {
		opts.Started(coord)
	}
	t := time.NewTicker(opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			printTable(opts.Out, coord.Status(time.Minute))
			return
		case <-gctx.Done(): // a probe failed: g.Wait says why
			return
		case <-t.C:
			printTable(opts.Out, coord.Status(time.Minute))
		}
	}
}

// printTable prints the mesh as `linkmesh status` does.
func printTable(w io.Writer, st coordinator.Status) {
	statusview.Write(w, st, statusview.Options{})
	fmt.Fprintln(w)
}
