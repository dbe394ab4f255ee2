// Package admit decides what the coordinator lets in, so that neither a stranger
// nor a compromised probe can make it fall over or count what it should not:
//
//   - connections: a total cap that, when reached, sheds the oldest connection
//     still in its TLS handshake (strangers never finish it) before refusing, and
//     a cap per probe certificate;
//   - identity: the probe name a call claims (Register, WatchPlan, Report) must
//     be the one its client certificate vouches for, and the site Register
//     claims the certificate's site (tlsconf.CertIdentity); RunCheck gets its
//     caller (an operator or a probe, see Caller) for the coordinator to decide;
//   - load: per probe, a rate of calls, a rate of results (a replayed backlog
//     included; the probe is told how long to wait), and a number of open plan
//     streams.
//
// Refusals are logged (at most a few lines a second per reason, with a count of
// the lines left out) and counted in linkmesh_coordinator_refused_total{reason}.
package admit

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Limits configure a Gate; see config.Limits for their meaning.
type Limits struct {
	MaxConnections            int
	MaxConnectionsPerProbe    int
	MaxPlanStreamsPerProbe    int
	ResultsPerSecondPerProbe  int
	RequestsPerSecondPerProbe int
	// MaxTrackedProbes bounds the per-probe state the Gate keeps (rate limiters);
	// idle entries are forgotten first.
	MaxTrackedProbes int
	// MaxBatch is the largest batch a probe may send; the results bucket holds
	// at least this many so a full batch can always pass.
	MaxBatch int
}

// Reasons a Gate refuses something (the `reason` label).
const (
	ReasonTLS         = "tls_handshake"  // no certificate, another CA, expired, not TLS at all
	ReasonNotProbe    = "not_a_probe"    // a verified certificate that names no probe
	ReasonIdentity    = "identity"       // probe A's certificate claiming probe B
	ReasonConnections = "connections"    // total connection cap, nothing to shed
	ReasonShed        = "shed_handshake" // an unfinished handshake shed for a new connection
	ReasonProbeConns  = "probe_connections"
	ReasonStreams     = "plan_streams"
	ReasonRate        = "rate"
	ReasonProbes      = "too_many_probes"
	// ReasonPathLimit counts results, one per result, that a report carried for
	// paths beyond limits.max_paths_per_probe (the batch is acked; those
	// results are not counted).
	ReasonPathLimit = "path_limit"
	// ReasonNotPlanned counts results, one per result, for paths no plan
	// holds (nor held in the last 15 minutes): the batch is acked, those
	// results are not counted, and no path (no series) is made for them.
	ReasonNotPlanned = "not_planned"
)

// Gate holds the admission state of one coordinator. Create it with New.
type Gate struct {
	limits  Limits
	secure  bool
	logger  *slog.Logger
	refused *prometheus.CounterVec
	now     func() time.Time

	mu      sync.Mutex
	total   int                 // open connections
	pending connList            // connections not yet past the TLS handshake, oldest first
	conns   map[string]int      // open connections per probe identity
	streams map[string]int      // open plan streams per probe
	probes  map[string]*limiter // rate limiters per probe
	logs    map[string]*logLimit
}

type limiter struct {
	requests *rate.Limiter
	results  *rate.Limiter
	used     time.Time
	// addr is the address the probe's last call came from; warnedNoSite says
	// a certificate without a site was logged (caller.go).
	addr         netip.Addr
	warnedNoSite bool
}

// New returns a Gate. secure says whether the server uses TLS (with --insecure
// there is no identity to check, and no handshake to shed). Its refusal counter
// is registered on reg.
func New(l Limits, secure bool, logger *slog.Logger, reg prometheus.Registerer) *Gate {
	g := &Gate{
		limits: l,
		secure: secure,
		logger: logger,
		now:    time.Now,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_refused_total",
			Help: "Connections, calls and results refused, by reason: one per connection or call (tls_handshake, not_a_probe, identity, connections, shed_handshake, probe_connections, plan_streams, rate, too_many_probes, site, role, check_round), one per result (path_limit: results for paths beyond limits.max_paths_per_probe).",
		}, []string{"reason"}),
		conns:   map[string]int{},
		streams: map[string]int{},
		probes:  map[string]*limiter{},
		logs:    map[string]*logLimit{},
	}
	for _, r := range []string{ReasonTLS, ReasonNotProbe, ReasonIdentity, ReasonConnections, ReasonShed, ReasonProbeConns, ReasonStreams, ReasonRate, ReasonProbes, ReasonPathLimit, ReasonSite, ReasonRole, ReasonCheck} {
		g.refused.WithLabelValues(r)
	}
	reg.MustRegister(g.refused, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "linkmesh_coordinator_connections",
		Help: "Open gRPC connections (including those still in their TLS handshake).",
	}, func() float64 {
		g.mu.Lock()
		defer g.mu.Unlock()
		return float64(g.total)
	}))
	return g
}

// Refuse counts a refusal and logs it, at most a few lines per second per reason.
func (g *Gate) Refuse(reason, msg string, args ...any) {
	g.RefuseN(reason, 1, msg, args...)
}

// RefuseN counts n refusals of one kind (results of one report) and logs them
// as Refuse does.
func (g *Gate) RefuseN(reason string, n int, msg string, args ...any) {
	g.refused.WithLabelValues(reason).Add(float64(n))
	g.mu.Lock()
	ll, ok := g.logs[reason]
	if !ok {
		ll = &logLimit{lim: rate.NewLimiter(2, 10)}
		g.logs[reason] = ll
	}
	allow := ll.lim.Allow()
	suppressed := ll.suppressed
	if allow {
		ll.suppressed = 0
	} else {
		ll.suppressed++
	}
	g.mu.Unlock()
	if !allow {
		return
	}
	if suppressed > 0 {
		args = append(args, "similar_lines_suppressed", suppressed)
	}
	g.logger.Warn(msg, append([]any{"reason", reason}, args...)...)
}

type logLimit struct {
	lim        *rate.Limiter
	suppressed int
}

// limiterFor returns name's limiters, creating them (and forgetting idle ones
// when too many are kept); nil when the table is full of active probes.
func (g *Gate) limiterFor(name string) *limiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if l, ok := g.probes[name]; ok {
		l.used = now
		return l
	}
	if len(g.probes) >= g.limits.MaxTrackedProbes {
		for n, l := range g.probes {
			if now.Sub(l.used) > time.Minute {
				delete(g.probes, n)
			}
		}
		if len(g.probes) >= g.limits.MaxTrackedProbes {
			return nil
		}
	}
	rps := g.limits.RequestsPerSecondPerProbe
	res := g.limits.ResultsPerSecondPerProbe
	l := &limiter{
		requests: rate.NewLimiter(rate.Limit(rps), max(2*rps, 10)),
		results:  rate.NewLimiter(rate.Limit(res), max(res, g.limits.MaxBatch)),
		used:     now,
	}
	g.probes[name] = l
	return l
}
