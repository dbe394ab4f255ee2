// Package round runs on-demand check rounds (RunCheck, `linkmesh check
// --coordinator`): between the probe on the SQL Server host and a probe of
// another site it asks for a stand-in on SQL Server's port when wanted, puts
// the round's targets into both probes' plans, collects their results as the
// probes report them, and hands back a CheckRound.
//
// A round reaches probes only through the coordinator: its registry of probes
// (Probes), their plans (Plans), the stand-ins they serve (StandIns) and the
// admission gate (Gate). The coordinator implements them; the round waits on
// change notifications (a result delivered, a stand-in reported), never on a
// ticker.
package round

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// Probes is what a round reads of the coordinator's registered probes.
type Probes interface {
	// Lookup returns a copy of the named probe's state.
	Lookup(name string) (pathstate.Probe, bool)
	// Connected lists the probes with an open plan stream.
	Connected() []*linkmeshv1.ProbeInfo
}

// Plans puts a round's targets into the probes' plans and takes them out.
type Plans interface {
	// AddRound adds targets to the plans of the probes they are keyed by.
	AddRound(byProbe map[string][]*linkmeshv1.Target)
	// DropRound takes round id's targets out of every plan.
	DropRound(id string)
}

// StandIns asks probes for stand-ins and reads what they reported of them.
type StandIns interface {
	// Request asks probe to serve a stand-in on port for at most d, renewed
	// while ctx lasts.
	Request(ctx context.Context, probe string, port uint32, d time.Duration) error
	// Release withdraws the request.
	Release(probe string, port uint32)
	// Status is what probe last reported of its stand-in on port.
	Status(probe string, port uint32) (*linkmeshv1.StandInStatus, bool)
	// Changed returns a channel closed at the next stand-in report of any probe.
	Changed() <-chan struct{}
}

// Gate is the coordinator's admission: refusals are counted and logged there,
// and it knows the address each probe's calls come from.
type Gate interface {
	Refuse(reason, msg string, args ...any)
	SeenAt(probe string) (netip.Addr, bool)
}

// Times are a round's waits.
type Times struct {
	// StandIn is how long to wait for the probe's answer to a stand-in request.
	StandIn time.Duration
	// Release is how long to wait, after the round, for the probe to report
	// the stand-in released.
	Release time.Duration
	// Slack is added to the round's attempts for plan delivery and reports.
	Slack time.Duration
}

// DefaultTimes are the waits of a coordinator's rounds.
var DefaultTimes = Times{StandIn: 10 * time.Second, Release: 5 * time.Second, Slack: 15 * time.Second}

// Config is what a Runner works with. Every field but Times and Now is required.
type Config struct {
	Probes   Probes
	Plans    Plans
	StandIns StandIns
	Gate     Gate
	// Bounds returns the current check_rounds settings, defaults filled in.
	Bounds func() config.CheckRounds
	// Secured reports whether the coordinator serves mTLS: then every round
	// needs a known caller.
	Secured func() bool
	// Hint is this coordinator's gRPC address as probes should dial it, for
	// messages that tell how to connect a probe.
	Hint func() string
	// Stopping is closed when the coordinator stops: running rounds end with
	// the results they have.
	Stopping <-chan struct{}
	// Times are the rounds' waits (zero: DefaultTimes).
	Times Times
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Runner runs the check rounds of one coordinator, one at a time per probe.
type Runner struct {
	cfg      Config
	running  *registry
	callers  *callers
	outcomes *prometheus.CounterVec
	history  history
}

// The outcomes of linkmesh_coordinator_check_rounds_total.
const (
	outcomeComplete = "complete"
	outcomePartial  = "partial"
	outcomeRefused  = "refused"
)

// New returns a Runner and registers its metrics on cfg.Registerer.
func New(cfg Config) *Runner {
	if cfg.Times == (Times{}) {
		cfg.Times = DefaultTimes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		cfg:     cfg,
		running: newRegistry(cfg.Logger),
		callers: newCallers(),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_check_rounds_total",
			Help: "On-demand check rounds (linkmesh check --coordinator), by outcome: complete (every attempt's result arrived), partial (the deadline passed, the client went away or the coordinator stopped first), refused (invalid request, probe not connected, or a round already running on a probe).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeComplete, outcomePartial, outcomeRefused} {
		r.outcomes.WithLabelValues(o)
	}
	cfg.Registerer.MustRegister(r.outcomes, r.callers.counted)
	return r
}

// Deliver hands results of check rounds (Result.round set) that probe
// reported to their rounds. A result counts only for a target of its round
// that is in probe's plan, and at most Target.attempts results per target.
func (r *Runner) Deliver(probe string, results []*linkmeshv1.Result) {
	r.running.deliver(probe, results)
}

// Owns reports whether r is a result of a check round (Result.round set):
// such results belong to their round (Deliver), never to a path's state.
func Owns(r *linkmeshv1.Result) bool { return r.GetRound() != "" }

// Running is the number of rounds running now.
func (r *Runner) Running() int { return r.running.count() }
