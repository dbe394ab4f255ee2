// Package probe is the linkmesh probe agent: it runs a responder for other probes
// to measure against, registers with every configured coordinator, runs the plan
// they send, and reports every attempt's result back.
package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"regexp"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/probe/report"
	"github.com/linkmesh/linkmesh/probe/responder"
	"github.com/linkmesh/linkmesh/probe/sched"
	"github.com/linkmesh/linkmesh/probe/standin"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/credentials"
)

// Config configures an Agent.
type Config struct {
	// Name is unique in the mesh, e.g. "sql01" (default: the host name).
	Name string
	// Site is where the probe stands, e.g. "sql" or "mi".
	Site string
	// Labels are free-form key=value pairs the path policy can select on.
	Labels map[string]string
	// Coordinators are the gRPC addresses (host:port) of every coordinator; the
	// probe reports to all of them.
	Coordinators []string
	// Creds secures the gRPC connections.
	Creds credentials.TransportCredentials
	// Responder is the responder's listen address (default ":5023"); "" disables it.
	Responder string
	// Advertise is the host (or host:port) other probes reach the responder at.
	// Empty: the coordinator fills in the address it sees the probe connect from.
	Advertise string
	// BufferSize bounds the results kept while coordinators are away.
	BufferSize int
	// MeshKey is the mesh's shared secret (meshkey.Size bytes): the responder
	// and the echo kind prove with it that both ends belong to the mesh.
	// Without it the responder refuses every hello and echo attempts fail.
	MeshKey []byte
	// ResponderMaxConns bounds the responder's connections (0: its default).
	ResponderMaxConns int
	// StandIns are ports (e.g. 5022) on which the probe serves the responder
	// protocol for as long as it runs, in place of an endpoint that does not
	// exist yet. Only when asked for: SQL Server cannot create its endpoint on
	// a port the probe holds. Coordinators can ask for bounded stand-ins in
	// plans without this.
	StandIns []uint32
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$`)

// Validate reports the first problem with c, naming the flag to fix.
func (c *Config) Validate() error {
	if !namePattern.MatchString(c.Name) {
		return fmt.Errorf("--name %q: use 1-63 letters, digits, '.', '_', ':', '-'", c.Name)
	}
	if !namePattern.MatchString(c.Site) {
		return fmt.Errorf("--site %q: use 1-63 letters, digits, '.', '_', ':', '-' (e.g. sql or mi)", c.Site)
	}
	for k, v := range c.Labels {
		if !namePattern.MatchString(k) || !namePattern.MatchString(v) {
			return fmt.Errorf("--label %s=%s: keys and values use 1-63 letters, digits, '.', '_', ':', '-'", k, v)
		}
	}
	if len(c.Coordinators) == 0 {
		return fmt.Errorf("--coordinator: give at least one coordinator address (host:port)")
	}
	for _, a := range c.Coordinators {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return fmt.Errorf("--coordinator %q: not host:port", a)
		}
	}
	if c.Responder != "" {
		if _, _, err := net.SplitHostPort(c.Responder); err != nil {
			return fmt.Errorf("--responder %q: not host:port (e.g. :5023)", c.Responder)
		}
	}
	if c.BufferSize < 1 {
		return fmt.Errorf("--buffer %d: must be at least 1", c.BufferSize)
	}
	if len(c.MeshKey) != 0 && len(c.MeshKey) != meshkey.Size {
		return fmt.Errorf("--mesh-key-file: the key is %d bytes, want %d", len(c.MeshKey), meshkey.Size)
	}
	for _, p := range c.StandIns {
		if p == 0 || p > 65535 {
			return fmt.Errorf("--stand-in %d: not a TCP port (use 1 to 65535, e.g. 5022)", p)
		}
	}
	return nil
}

// Agent is one probe. Create it with New, then Run it.
type Agent struct {
	cfg     Config
	logger  *slog.Logger
	lis     net.Listener
	buf     *report.Buffer
	info    *linkmeshv1.ProbeInfo
	probers map[linkmeshv1.Kind]sched.Prober
}

// New validates cfg and opens the responder's listener (so a port in use fails
// here, before anything runs).
func New(cfg Config, logger *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:     cfg,
		logger:  logger,
		buf:     report.NewBuffer(cfg.BufferSize),
		probers: probers(cfg.MeshKey),
	}
	if len(cfg.MeshKey) == 0 {
		logger.Warn("no mesh key (--mesh-key-file): echo paths to and from this probe will fail; tcp and dns paths work")
	}
	var advertise string
	if cfg.Responder != "" {
		lis, err := net.Listen("tcp", cfg.Responder)
		if err != nil {
			return nil, fmt.Errorf("responder: listen on %s: %w (another program holds the port? choose another with --responder)", cfg.Responder, err)
		}
		a.lis = lis
		advertise = advertiseAddress(cfg.Advertise, lis.Addr())
	}
	a.info = &linkmeshv1.ProbeInfo{
		Name:             cfg.Name,
		Site:             cfg.Site,
		Labels:           cfg.Labels,
		Version:          buildinfo.Version(),
		Os:               buildinfo.Platform(),
		ResponderAddress: advertise,
		Epoch:            newEpoch(),
	}
	return a, nil
}

// advertiseAddress combines the --advertise host (or host:port) with the port the
// responder actually listens on. An empty host is left for the coordinator to fill.
func advertiseAddress(adv string, lis net.Addr) string {
	_, port, _ := net.SplitHostPort(lis.String())
	if adv == "" {
		return net.JoinHostPort("", port)
	}
	if h, p, err := net.SplitHostPort(adv); err == nil {
		return net.JoinHostPort(h, p)
	}
	return net.JoinHostPort(adv, port)
}

func newEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1
}

// ResponderAddr is the responder's listen address (nil when disabled).
func (a *Agent) ResponderAddr() net.Addr {
	if a.lis == nil {
		return nil
	}
	return a.lis.Addr()
}

// Buffer exposes the result buffer (for the probe's own metrics and tests).
func (a *Agent) Buffer() *report.Buffer { return a.buf }

// Run runs the responder, the coordinator clients, the stand-ins and the
// scheduler until ctx is done. Coordinators being away never stops it: probing
// goes on and results wait.
func (a *Agent) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	r := responder.New(responder.Config{Key: a.cfg.MeshKey, MaxConns: a.cfg.ResponderMaxConns}, a.logger.With("component", "responder"))
	if a.lis != nil {
		g.Go(func() error { return r.Serve(ctx, a.lis) })
	}
	standIns := standin.New(r.Serve, "", a.logger.With("component", "stand-in"))
	plans := make(chan *linkmeshv1.Plan)
	for _, addr := range a.cfg.Coordinators {
		c := &report.Client{
			Address:         addr,
			Creds:           a.cfg.Creds,
			Info:            a.info,
			Buffer:          a.buf,
			Plans:           plans,
			Logger:          a.logger.With("component", "report", "coordinator", addr),
			StandIns:        standIns.Statuses,
			StandInsChanged: standIns.Changed,
		}
		g.Go(func() error { return c.Run(ctx) })
	}
	toSched := make(chan *linkmeshv1.Plan)
	toStandIns := make(chan []standin.Request)
	s := sched.New(a.probers, a.buf, a.logger.With("component", "sched"))
	g.Go(func() error { return s.Run(ctx, toSched) })
	g.Go(func() error { return standIns.Run(ctx, toStandIns) })
	g.Go(func() error { return a.route(ctx, plans, toSched, toStandIns) })
	a.logger.Info("probe running", "name", a.cfg.Name, "site", a.cfg.Site, "responder", a.info.GetResponderAddress(),
		"coordinators", a.cfg.Coordinators, "stand_ins", a.cfg.StandIns)
	return g.Wait()
}
