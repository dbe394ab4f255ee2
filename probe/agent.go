// Package probe is the linkmesh probe agent: it runs a responder for other probes
// to measure against, registers with every configured coordinator, runs the plan
// they send, and reports every attempt's result back.
package probe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"time"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/gossip"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/mssql"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe/report"
	"github.com/linkmesh/linkmesh/probe/responder"
	"github.com/linkmesh/linkmesh/probe/sched"
	"github.com/linkmesh/linkmesh/probe/sqlstate"
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
	// SpoolDir, when set, keeps unacked results on disk too: a restart (even
	// kill -9) loses none, and the epoch and sequence numbers continue.
	SpoolDir string
	// Metrics is the listen address of the probe's own /metrics ("" disables it).
	Metrics string
	// WebConfigFile secures Metrics with TLS and basic auth: a web config
	// file in the format of prometheus/exporter-toolkit ("": plain HTTP).
	WebConfigFile string
	// SQLDSN, on the probe beside SQL Server, is a login whose link state
	// (sqlstate) the probe reads every SQLInterval and exports on Metrics as
	// linkmesh_sql_* series ("": none). It needs Metrics.
	SQLDSN      string
	SQLInterval time.Duration
	// ReplayRate bounds the results per second sent to each coordinator
	// (0: report.DefaultReplayRate).
	ReplayRate float64
	// Gossip makes the probe a member of the mesh's gossip cluster; nil leaves
	// it out (the coordinator then knows it only by its reports).
	Gossip *GossipConfig
	// MeshKey is the mesh's shared secret (meshkey.Size bytes). It encrypts
	// gossip (nil only with Insecure), and the responder and the echo kind
	// prove with it that both ends belong to the mesh: without it the
	// responder refuses every hello and echo attempts fail.
	MeshKey []byte
	// MeshKeysAccepted are further keys accepted during a key rotation (for
	// gossip, and for the echo hello's proofs).
	MeshKeysAccepted [][]byte
	// Insecure allows clear-text gossip when MeshKey is nil.
	Insecure bool
	// TLS is the probe's material from the mesh CA (the Source behind
	// Creds; nil with --insecure). With it the responder proves this probe's
	// name with the certificate (the current one: the files are re-read when
	// they change), and echo attempts require that proof from every
	// responder, checked against the CA. Without it the echo hello checks the
	// name bound into the mesh key's proof only.
	TLS *tlsconf.Source
	// PlanCache is the file the latest plan is kept in ("" disables it).
	PlanCache string
	// ResponderMaxConns bounds the responder's connections (0: its default).
	ResponderMaxConns int
	// StandIns are ports (e.g. 5022) on which the probe serves the responder
	// protocol for as long as it runs, in place of an endpoint that does not
	// exist yet. Only when asked for: SQL Server cannot create its endpoint on
	// a port the probe holds. Coordinators can ask for bounded stand-ins in
	// plans without this.
	StandIns []uint32
	// StandInPorts are the ports coordinators may ask for stand-ins on
	// (nil: standin.DefaultAllowedPorts, 5022); other requests are refused.
	StandInPorts []uint32
	// DNSServer, when valid, receives the dns kind's queries instead of the
	// system's resolver (e.g. the DNS server of the MI's VNet).
	DNSServer netip.AddrPort
}

// GossipConfig configures the probe's gossip membership.
type GossipConfig struct {
	// Bind is the gossip address, TCP and UDP (default ":7946").
	Bind string
	// Advertise is the host[:port] other members reach this probe at.
	Advertise string
	// Join lists seeds (host[:port]); empty: the coordinators' hosts, port 7946.
	Join []string
	// Profile is wan (default), lan or local.
	Profile string
}

// namePattern is what a name, site or label may be: the coordinator's config
// and its input validation accept the same.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Validate reports the first problem with c, naming the flag to fix.
func (c *Config) Validate() error {
	if !namePattern.MatchString(c.Name) {
		return fmt.Errorf("--name %q: use 1-63 letters, digits, '.', '_', '-'", c.Name)
	}
	if !namePattern.MatchString(c.Site) {
		return fmt.Errorf("--site %q: use 1-63 letters, digits, '.', '_', '-' (e.g. sql or mi)", c.Site)
	}
	for k, v := range c.Labels {
		if !namePattern.MatchString(k) || !namePattern.MatchString(v) {
			return fmt.Errorf("--label %s=%s: keys and values use 1-63 letters, digits, '.', '_', '-'", k, v)
		}
	}
	if len(c.Coordinators) == 0 && (c.Gossip == nil || len(c.Gossip.Join) == 0) {
		return fmt.Errorf("--coordinator: give at least one coordinator address (host:port), or gossip seeds with --join")
	}
	if c.Gossip != nil && c.MeshKey == nil && !c.Insecure {
		return fmt.Errorf("--mesh-key-file: gossip needs the mesh key (create one with `linkmesh certs mesh-key` and give the same file to every member), or stay out of gossip with --no-gossip (a test setup without TLS may use --insecure for clear-text gossip)")
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
	if c.Metrics != "" {
		if _, _, err := net.SplitHostPort(c.Metrics); err != nil {
			return fmt.Errorf("--metrics %q: not host:port (e.g. :9023)", c.Metrics)
		}
	}
	if err := validateWebConfig(c.WebConfigFile, c.Metrics); err != nil {
		return err
	}
	if c.SQLDSN != "" && c.Metrics == "" {
		return errors.New("--sql-dsn needs --metrics: the link's SQL Server state is exported on the probe's own /metrics")
	}
	if c.SQLDSN != "" {
		if err := mssql.CheckDSN(c.SQLDSN); err != nil {
			return fmt.Errorf("--sql-dsn: %w", err)
		}
	}
	if c.SQLInterval != 0 && c.SQLInterval < sqlstate.MinInterval {
		return fmt.Errorf("--sql-interval %v: at least %v (the probe is a guest on SQL Server's host)", c.SQLInterval, sqlstate.MinInterval)
	}
	if c.ReplayRate < 0 {
		return fmt.Errorf("--replay-rate %v: must be positive", c.ReplayRate)
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
	cfg        Config
	sql        *sqlstate.Reader // nil without SQLDSN
	sqlDB      *mssql.DB
	logger     *slog.Logger
	lis        net.Listener
	metricsLis net.Listener
	buf        *report.Buffer
	metrics    *metrics
	info       *linkmeshv1.ProbeInfo
	probers    map[linkmeshv1.Kind]sched.Prober
	gossip     *gossip.Node
	// responder serves the responder port and every stand-in port.
	responder *responder.Responder
	standIns  *standin.Manager
}

// New validates cfg and opens the responder's listener (so a port in use fails
// here, before anything runs).
func New(cfg Config, logger *slog.Logger) (_ *Agent, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:    cfg,
		logger: logger,
		buf:    report.NewBuffer(cfg.BufferSize),
	}
	a.initProbers()
	if len(cfg.MeshKey) == 0 {
		logger.Warn("no mesh key (--mesh-key-file): echo paths to and from this probe will fail; tcp and dns paths work")
	}
	epoch := newEpoch()
	if cfg.SpoolDir != "" {
		buf, err := report.OpenBuffer(cfg.BufferSize, cfg.SpoolDir, logger.With("component", "spool"))
		if err != nil {
			return nil, fmt.Errorf("--spool-dir: %w", err)
		}
		a.buf, epoch = buf, buf.Epoch()
		if n := buf.Len(); n > 0 {
			logger.Info("spool holds results a previous run did not deliver; they are replayed", "results", n, "next_seq", buf.LastSeq()+1)
		}
	}
	a.metrics = newMetrics(a.buf)
	if cfg.SQLDSN != "" {
		db, err := mssql.Open(cfg.SQLDSN)
		if err != nil {
			a.buf.Close()
			return nil, fmt.Errorf("--sql-dsn: %w", err)
		}
		a.sqlDB = db
		a.sql = sqlstate.New(sqlstate.Config{Querier: db, Probe: cfg.Name, Interval: cfg.SQLInterval, Logger: logger.With("component", "sqlstate")})
		a.metrics.reg.MustRegister(a.sql)
	}

	// What New opens is closed again, newest first, when a later step fails.
	opened := []func(){func() { a.buf.Close() }}
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i]()
			}
		}
	}()
	var advertise string
	if cfg.Responder != "" {
		if a.lis, err = net.Listen("tcp", cfg.Responder); err != nil {
			return nil, fmt.Errorf("responder: listen on %s: %w (another program holds the port? choose another with --responder)", cfg.Responder, err)
		}
		opened = append(opened, func() { a.lis.Close() })
		advertise = advertiseAddress(cfg.Advertise, a.lis.Addr())
	}
	if cfg.Metrics != "" {
		if a.metricsLis, err = net.Listen("tcp", cfg.Metrics); err != nil {
			return nil, fmt.Errorf("metrics: listen on %s: %w (choose another with --metrics)", cfg.Metrics, err)
		}
		opened = append(opened, func() { a.metricsLis.Close() })
	}
	if cfg.Gossip != nil {
		if err := a.startGossip(advertise); err != nil {
			return nil, err
		}
		if cfg.Advertise == "" && a.lis != nil {
			// Other probes reach the responder at the address gossip advertises.
			// Gossip itself carries only ":port" (members fill in the address
			// they know this member by); the coordinator is told in full.
			host, _, _ := net.SplitHostPort(a.gossip.Addr())
			_, port, _ := net.SplitHostPort(advertise)
			advertise = net.JoinHostPort(host, port)
		}
	}
	a.info = &linkmeshv1.ProbeInfo{
		Name:             cfg.Name,
		Site:             cfg.Site,
		Labels:           cfg.Labels,
		Version:          buildinfo.Version(),
		Os:               buildinfo.Platform(),
		ResponderAddress: advertise,
		Epoch:            epoch,
	}
	return a, nil
}

// initProbers builds the probe kinds, the responder and the stand-in manager.
func (a *Agent) initProbers() {
	cfg := a.cfg
	rcfg := responder.Config{Key: cfg.MeshKey, Accepted: cfg.MeshKeysAccepted, MaxConns: cfg.ResponderMaxConns, Name: cfg.Name}
	id := echoIdentity{name: cfg.Name}
	if src := cfg.TLS; src != nil {
		rcfg.Certificate = func() *tls.Certificate { return &src.Current().Cert }
		id.roots = func() *x509.CertPool { return src.Current().Pool }
	}
	a.probers = probers(cfg.MeshKey, cfg.MeshKeysAccepted, cfg.DNSServer, id)
	a.responder = responder.New(rcfg, a.logger.With("component", "responder"))
	// Stand-ins listen on the responder's host: all addresses for ":5023",
	// loopback only for a responder on loopback (the demo, tests).
	standInHost, _, _ := net.SplitHostPort(cfg.Responder)
	a.standIns = standin.New(a.responder.Serve, standInHost, a.logger.With("component", "stand-in"))
	a.standIns.AllowPorts(cfg.StandInPorts)
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

// Buffer exposes the result buffer (for the probe's own metrics and tests).
func (a *Agent) Buffer() *report.Buffer { return a.buf }

// MetricsAddr is the /metrics listen address (nil when disabled).
func (a *Agent) MetricsAddr() net.Addr {
	if a.metricsLis == nil {
		return nil
	}
	return a.metricsLis.Addr()
}

// Run runs the responder, gossip, the coordinator clients, the stand-ins, the
// scheduler and the probe's own /metrics until ctx is done. Coordinators being
// away never stops it: probing goes on from the cached plan and results wait in
// the buffer (and spool). On return the spool, if any, is synced and closed.
func (a *Agent) Run(ctx context.Context) error {
	defer func() {
		if err := a.buf.Close(); err != nil {
			a.logger.Error("closing the spool", "error", err)
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	if a.metricsLis != nil {
		g.Go(func() error {
			return a.metrics.serve(gctx, a.metricsLis, a.cfg.WebConfigFile, a.logger.With("component", "metrics"))
		})
	}
	if a.lis != nil {
		g.Go(func() error { return a.responder.Serve(gctx, a.lis) })
	}
	if a.sql != nil {
		defer a.sqlDB.Close()
		g.Go(func() error { return a.sql.Run(gctx) })
	}
	fromCoords := make(chan *linkmeshv1.Plan)
	plans := make(chan *linkmeshv1.Plan)
	toSched := make(chan *linkmeshv1.Plan)
	toStandIns := make(chan []standin.Request)
	g.Go(func() error { return a.keepPlans(gctx, fromCoords, plans) })
	g.Go(func() error { return a.manageCoordinators(gctx, fromCoords) })
	g.Go(func() error { return a.route(gctx, plans, toSched, toStandIns) })
	g.Go(func() error { return a.standIns.Run(gctx, toStandIns) })
	s := sched.New(a.probers, counting{a.buf, a.metrics}, a.logger.With("component", "sched"))
	g.Go(func() error { return s.Run(gctx, toSched) })
	if a.gossip != nil {
		// Gossip leaves last, after the clients stopped, so coordinators see a
		// clean departure rather than a death.
		gossipCtx, stopGossip := context.WithCancel(context.WithoutCancel(ctx))
		gossipDone := make(chan error, 1)
		go func() { gossipDone <- a.gossip.Run(gossipCtx) }()
		defer func() {
			stopGossip()
			<-gossipDone
		}()
	}
	a.logger.Info("probe running", "name", a.cfg.Name, "site", a.cfg.Site, "responder", a.info.GetResponderAddress(),
		"coordinators", a.cfg.Coordinators, "gossip", a.gossipAddr(), "plan_cache", a.cfg.PlanCache, "spool", a.cfg.SpoolDir,
		"stand_ins", a.cfg.StandIns)
	return g.Wait()
}

// keepPlans forwards plans to the scheduler, starting with the cached one, and
// writes every new plan to the cache.
func (a *Agent) keepPlans(ctx context.Context, in <-chan *linkmeshv1.Plan, out chan<- *linkmeshv1.Plan) error {
	send := func(p *linkmeshv1.Plan) bool {
		select {
		case out <- p:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if a.cfg.PlanCache != "" {
		cached, err := loadPlan(a.cfg.PlanCache)
		switch {
		case err != nil:
			a.logger.Warn("cannot use the cached plan", "error", err)
		case cached != nil:
			a.logger.Info("probing from the cached plan until a coordinator answers", "targets", len(cached.GetTargets()), "file", a.cfg.PlanCache)
			// A stand-in is a coordinator's request of the moment, not
			// something to resume after a restart: binding 5022 again could
			// keep SQL Server from creating its endpoint.
			cached.StandIns = nil
			if !send(cached) {
				return nil
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-in:
			if a.cfg.PlanCache != "" {
				if err := savePlan(a.cfg.PlanCache, p); err != nil {
					a.logger.Warn("cannot cache the plan", "error", err)
				}
			}
			if !send(p) {
				return nil
			}
		}
	}
}
