package round

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// maxCallers bounds the callers whose rounds are rate-limited and
// counted by name; beyond it, new callers share the "other" label and one
// rate limiter.
const maxCallers = 64

// callerOther is the caller label of callers beyond maxCallers.
const callerOther = "other"

// callers rate-limits and counts check rounds per caller.
type callers struct {
	counted *prometheus.CounterVec

	// logs bounds the log lines of refused requests (invalid ones are not
	// rate-limited as rounds are): a burst of 10, then 2 a second.
	logs *rate.Limiter

	mu       sync.Mutex
	labels   map[string]bool          // callers counted by name
	limiters map[string]*rate.Limiter // by label
}

func newCallers() *callers {
	c := &callers{
		counted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_check_round_requests_total",
			Help: "Check rounds asked for (RunCheck), by caller (operator/NAME, probe/NAME, unauthenticated under --insecure; \"other\" beyond 64 callers) and result: started, or refused (role, rate or bounds).",
		}, []string{"caller", "result"}),
		logs:     rate.NewLimiter(2, 10),
		labels:   map[string]bool{},
		limiters: map[string]*rate.Limiter{},
	}
	return c
}

// logAllowed reports whether a refused request may be logged now.
func (c *callers) logAllowed() bool { return c.logs.Allow() }

// label returns caller's metric label: its name while fewer than
// maxCallers are known, else "other". Call with mu held.
func (c *callers) label(caller string) string {
	if c.labels[caller] {
		return caller
	}
	if len(c.labels) >= maxCallers {
		return callerOther
	}
	c.labels[caller] = true
	return caller
}

// count counts one round asked for by caller.
func (c *callers) count(caller, result string) {
	c.mu.Lock()
	label := c.label(caller)
	c.mu.Unlock()
	c.counted.WithLabelValues(label, result).Inc()
}

// limiter returns the rate limiter of caller's label, at cfg's rate.
func (c *callers) limiter(caller string, cfg config.CheckRounds) *rate.Limiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	label := c.label(caller)
	every := rate.Every(time.Minute / time.Duration(cfg.RoundsPerMinute))
	l, ok := c.limiters[label]
	if !ok {
		l = rate.NewLimiter(every, cfg.Burst)
		c.limiters[label] = l
	}
	l.SetLimit(every)
	l.SetBurst(cfg.Burst)
	return l
}

// authorizeCheck decides whether caller may run req: operators may; a probe
// certificate only when check_rounds.allow_probes names it, and only for its
// own probe; under --insecure anyone (the operator chose no identities; the
// round is logged as unauthenticated).
func (r *Runner) authorize(caller admit.Caller, req *linkmeshv1.RunCheckRequest, cfg config.CheckRounds) error {
	switch {
	case !caller.Secured:
		return nil
	case caller.Identity.Role == tlsconf.RoleOperator:
		return nil
	case caller.Identity.Role == tlsconf.RoleProbe && cfg.AllowsProbe(caller.Identity.Name):
		if req.GetProbe() == caller.Identity.Name {
			return nil
		}
		return r.refuse(caller, req, admit.ReasonRole, codes.PermissionDenied, "this certificate is for probe %q, allowed (check_rounds.allow_probes) to run rounds for itself only, not for %q; use an operator certificate (linkmesh certs operator --name NAME)", caller.Identity.Name, req.GetProbe())
	}
	return r.refuse(caller, req, admit.ReasonRole, codes.PermissionDenied, "check rounds need an operator certificate (linkmesh certs operator --name NAME); %s may not run them (a probe certificate may only when the coordinator's check_rounds.allow_probes names it)", caller)
}

// refuseCheck counts, logs and returns a refusal of caller's round.
func (r *Runner) refuse(caller admit.Caller, req *linkmeshv1.RunCheckRequest, reason string, code codes.Code, format string, args ...any) error {
	r.callers.count(caller.String(), "refused")
	msg := fmt.Sprintf(format, args...)
	r.cfg.Gate.Refuse(reason, "check round refused", "caller", caller.String(), "remote", caller.Addr, "probe", req.GetProbe(), "why", msg)
	return status.Error(code, msg)
}

// takeCheckRound takes one round from caller's rate (check_rounds:
// rounds_per_minute, burst), or refuses with how long to wait.
func (r *Runner) take(caller admit.Caller, req *linkmeshv1.RunCheckRequest, cfg config.CheckRounds) error {
	who := caller.String()
	limiter := r.callers.limiter(who, cfg)
	now := r.cfg.Now()
	res := limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); !res.OK() || d > 0 {
		res.CancelAt(now)
		r.callers.count(who, "refused")
		r.cfg.Gate.Refuse(admit.ReasonCheck, "check round refused: caller over check_rounds.rounds_per_minute", "caller", who, "remote", caller.Addr, "probe", req.GetProbe(), "wait", d.Round(time.Second))
		st, _ := status.New(codes.ResourceExhausted, fmt.Sprintf("%s runs check rounds faster than check_rounds allows (%d a minute, bursts of %d); retry after %v", who, cfg.RoundsPerMinute, cfg.Burst, d.Round(time.Second))).
			WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		return st.Err()
	}
	r.callers.count(who, "started")
	return nil
}

// sqlHostAllowed reports whether host is one of probe's own addresses: the
// host of its registered responder address, the address its calls come from,
// or a name check_rounds.sql_host_names gives it. A round tests the SQL host through the probe on it, never another.
func (r *Runner) sqlHostAllowed(probe *linkmeshv1.ProbeInfo, host string, cfg config.CheckRounds) bool {
	if cfg.HostNamed(probe.GetName(), host) {
		return true
	}
	if h, _, ok := responder(probe); ok && sameHost(h, host) {
		return true
	}
	if a, ok := r.cfg.Gate.SeenAt(probe.GetName()); ok && sameHost(a.String(), host) {
		return true
	}
	return false
}

// sameHost compares two hosts: IP addresses by value, names without case.
func sameHost(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA == nil && errB == nil {
		return pa.Unmap() == pb.Unmap()
	}
	return errA != nil && errB != nil && strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// probeAddrs lists a probe's own addresses, for refusals.
func (r *Runner) probeAddrs(p *linkmeshv1.ProbeInfo) string {
	var as []string
	if h, _, ok := responder(p); ok {
		as = append(as, "responder host "+h)
	}
	if a, ok := r.cfg.Gate.SeenAt(p.GetName()); ok {
		as = append(as, "seen at "+a.String())
	}
	if len(as) == 0 {
		return "no address known"
	}
	return strings.Join(as, ", ")
}
