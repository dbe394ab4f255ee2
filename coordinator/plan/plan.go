// Package plan keeps every probe's plan: the policy's targets expanded over
// the registered probes (within limits.max_paths), the targets of running
// check rounds, and the stand-ins asked of the probe, renewed as leases. Plan
// streams (the coordinator's StreamPlan) wait on it for a plan to change.
package plan

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/coordinator/policy"
	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Source is what the planner reads of the coordinator's probes (the
// pathstate.Store).
type Source interface {
	// Changed returns a channel closed at the next change of membership.
	Changed() <-chan struct{}
	// Probes lists the registered probes.
	Probes() []*linkmeshv1.ProbeInfo
	// Serving reports whether probe serves the responder protocol on port.
	Serving(probe string, port uint32) bool
	// Known reports whether probe is registered.
	Known(probe string) bool
	// SetPlanned is told the paths the plans hold after every rebuild: the
	// store counts results only for paths that are (or were lately) planned.
	SetPlanned(keys []pathstate.Key)
}

// Planner keeps every probe's current plan. It expands the policy once per change
// of membership or config (not once per watcher) and bumps a probe's generation
// only when its targets actually changed. A plan is the policy's targets, then
// the targets of running check rounds, and the stand-ins asked of the probe.
type Planner struct {
	store  Source
	cfg    func() *config.Config
	logger *slog.Logger

	mu          sync.Mutex
	builtFor    <-chan struct{} // the store's change channel the plans were built for
	builtCfg    *config.Config
	dirty       bool // stand-in requests or round targets changed since the plans were built
	plans       map[string]*linkmeshv1.Plan
	standIns    map[string][]*standInRequest    // by probe
	rounds      map[string][]*linkmeshv1.Target // targets of check rounds, by probe
	cfgChanged  notify.Signal
	done        chan struct{}
	stopOnce    sync.Once
	generations uint64
	// leftOut is how many targets the last expansion left out (max_paths).
	leftOut atomic.Int64
	// standInLease is the stand-ins' lease (0: StandInLease).
	standInLease time.Duration
}

// New returns a Planner over store's probes and the current config (cfg);
// lease is the stand-ins' lease (0: StandInLease).
func New(store Source, cfg func() *config.Config, logger *slog.Logger, lease time.Duration) *Planner {
	return &Planner{
		store:        store,
		cfg:          cfg,
		logger:       logger,
		plans:        map[string]*linkmeshv1.Plan{},
		standIns:     map[string][]*standInRequest{},
		rounds:       map[string][]*linkmeshv1.Target{},
		standInLease: lease,
		done:         make(chan struct{}),
	}
}

// Plan returns the probe's current plan and channels that are closed when it may
// have changed (membership, config) or when the coordinator stops.
func (p *Planner) Plan(probe string) (plan *linkmeshv1.Plan, membership, cfg, done <-chan struct{}) {
	changed := p.lockBuilt()
	defer p.mu.Unlock()
	plan, ok := p.plans[probe]
	if !ok {
		plan = &linkmeshv1.Plan{}
	}
	return plan, changed, p.cfgChanged.C(), p.done
}

// Planned returns every probe's policy targets as its current plan holds them
// (round targets left out), by probe name: what should be measured, whether
// or not a result has come yet.
func (p *Planner) Planned() map[string][]*linkmeshv1.Target {
	p.lockBuilt()
	defer p.mu.Unlock()
	out := make(map[string][]*linkmeshv1.Target, len(p.plans))
	for name, plan := range p.plans {
		for _, t := range plan.GetTargets() {
			if t.GetRound() == "" {
				out[name] = append(out[name], t)
			}
		}
	}
	return out
}

// lockBuilt takes p.mu (the caller unlocks it) with the plans built for the
// current membership and config, and returns the membership's change channel
// they were built for.
func (p *Planner) lockBuilt() <-chan struct{} {
	changed := p.store.Changed()
	c := p.cfg()
	p.mu.Lock()
	if changed != p.builtFor || c != p.builtCfg || p.dirty {
		p.rebuildLocked(c)
		p.builtFor, p.builtCfg, p.dirty = changed, c, false
	}
	return changed
}

func (p *Planner) rebuildLocked(c *config.Config) {
	probes := p.store.Probes()
	expanded := policy.Expand(c.Paths, probes, p.store.Serving)
	p.leftOut.Store(int64(limitPaths(expanded, c.Limits.MaxPaths, p.logger)))
	p.store.SetPlanned(plannedKeys(probes, expanded))
	now := time.Now()
	for _, name := range p.plannedLocked(expanded) {
		// Round targets come after the policy's, outside limits.max_paths.
		targets := slices.Concat(expanded[name], p.rounds[name])
		standIns := p.standInsLocked(name, now)
		old, ok := p.plans[name]
		if ok && slices.EqualFunc(old.GetTargets(), targets, equalMsg) && slices.EqualFunc(old.GetStandIns(), standIns, equalMsg) {
			continue
		}
		p.generations++
		p.plans[name] = &linkmeshv1.Plan{
			Generation: p.generations,
			Targets:    targets,
			Created:    timestamppb.New(now),
			StandIns:   standIns,
		}
	}
}

// plannedLocked names the probes whose plans to build: those the policy
// knows, those with stand-ins or round targets, and those whose current plan
// still holds stand-ins or round targets that must go.
func (p *Planner) plannedLocked(expanded map[string][]*linkmeshv1.Target) []string {
	names := map[string]bool{}
	for name := range expanded {
		names[name] = true
	}
	for name := range p.standIns {
		names[name] = true
	}
	for name := range p.rounds {
		names[name] = true
	}
	for name, plan := range p.plans {
		if len(plan.GetStandIns()) > 0 || slices.ContainsFunc(plan.GetTargets(), func(t *linkmeshv1.Target) bool { return t.GetRound() != "" }) {
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// AddRound puts a check round's targets into the probes' plans (by probe),
// after their policy targets, and wakes the plan streams.
func (p *Planner) AddRound(targets map[string][]*linkmeshv1.Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, ts := range targets {
		p.rounds[name] = append(p.rounds[name], ts...)
	}
	p.dirty = true
	p.wakeLocked()
}

// DropRound takes the targets of round id out of every plan and wakes the
// plan streams.
func (p *Planner) DropRound(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, ts := range p.rounds {
		ts = slices.DeleteFunc(ts, func(t *linkmeshv1.Target) bool { return t.GetRound() == id })
		if len(ts) == 0 {
			delete(p.rounds, name)
		} else {
			p.rounds[name] = ts
		}
	}
	p.dirty = true
	p.wakeLocked()
}

// limitPaths trims the plans to at most max paths in all, keeping the first
// probes' plans whole (by name), and logs what it left out.
func limitPaths(plans map[string][]*linkmeshv1.Target, max int, logger *slog.Logger) int {
	names := slices.Sorted(maps.Keys(plans))
	total, dropped := 0, 0
	for _, name := range names {
		room := max - total
		if room < 0 {
			room = 0
		}
		if len(plans[name]) > room {
			dropped += len(plans[name]) - room
			plans[name] = plans[name][:room]
		}
		total += len(plans[name])
	}
	if dropped > 0 {
		logger.Error("the policy expands beyond limits.max_paths; some targets are left out of plans", "max_paths", max, "left_out", dropped)
	}
	return dropped
}

// equalMsg compares two plan entries by content.
func equalMsg[M proto.Message](a, b M) bool { return proto.Equal(a, b) }

// ConfigChanged wakes every plan stream after a config reload.
func (p *Planner) ConfigChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wakeLocked()
}

// wakeLocked wakes every plan stream to look at its plan again.
func (p *Planner) wakeLocked() {
	p.cfgChanged.Notify()
}

// Done is closed when the planner stops (the coordinator shuts down).
func (p *Planner) Done() <-chan struct{} { return p.done }

// LeftOut is how many targets the last expansion left out (limits.max_paths).
func (p *Planner) LeftOut() int64 { return p.leftOut.Load() }

// Stop ends every plan stream (graceful shutdown waits for them).
func (p *Planner) Stop() {
	p.stopOnce.Do(func() {
		close(p.done)
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, reqs := range p.standIns {
			for _, r := range reqs {
				r.expiry.Stop()
			}
		}
	})
}

// plannedKeys are the paths the policy's targets make, by the key the store
// gives the results of each (pathstate.Key).
func plannedKeys(probes []*linkmeshv1.ProbeInfo, expanded map[string][]*linkmeshv1.Target) []pathstate.Key {
	site := make(map[string]string, len(probes))
	for _, p := range probes {
		site[p.GetName()] = p.GetSite()
	}
	var keys []pathstate.Key
	for name, targets := range expanded {
		for _, t := range targets {
			keys = append(keys, pathstate.Key{Source: name, SourceSite: site[name], Target: t.GetName(), TargetSite: t.GetSite(),
				Port: t.GetPort(), PortEnd: t.GetPortEnd(), Kind: t.GetKind()})
		}
	}
	return keys
}
