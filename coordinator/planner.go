package coordinator

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
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// planner keeps every probe's current plan. It expands the policy once per change
// of membership or config (not once per watcher) and bumps a probe's generation
// only when its targets actually changed.
type planner struct {
	store  *pathstate.Store
	cfg    func() *config.Config
	logger *slog.Logger

	mu          sync.Mutex
	builtFor    <-chan struct{} // the store's change channel the plans were built for
	builtCfg    *config.Config
	plans       map[string]*linkmeshv1.Plan
	cfgChanged  chan struct{}
	done        chan struct{}
	stopOnce    sync.Once
	generations uint64
	// leftOut is how many targets the last expansion left out (max_paths).
	leftOut atomic.Int64
}

func newPlanner(store *pathstate.Store, cfg func() *config.Config, logger *slog.Logger) *planner {
	return &planner{
		store:      store,
		cfg:        cfg,
		logger:     logger,
		plans:      map[string]*linkmeshv1.Plan{},
		cfgChanged: make(chan struct{}),
		done:       make(chan struct{}),
	}
}

// plan returns the probe's current plan and channels that are closed when it may
// have changed (membership, config) or when the coordinator stops.
func (p *planner) plan(probe string) (plan *linkmeshv1.Plan, membership, cfg, done <-chan struct{}) {
	changed := p.store.Changed()
	c := p.cfg()
	p.mu.Lock()
	defer p.mu.Unlock()
	if changed != p.builtFor || c != p.builtCfg {
		p.rebuildLocked(c)
		p.builtFor, p.builtCfg = changed, c
	}
	plan, ok := p.plans[probe]
	if !ok {
		plan = &linkmeshv1.Plan{}
	}
	return plan, changed, p.cfgChanged, p.done
}

func (p *planner) rebuildLocked(c *config.Config) {
	expanded := policy.Expand(c.Paths, p.store.Probes())
	p.leftOut.Store(int64(limitPaths(expanded, c.Limits.MaxPaths, p.logger)))
	for name, targets := range expanded {
		old, ok := p.plans[name]
		if ok && equalTargets(old.GetTargets(), targets) {
			continue
		}
		p.generations++
		p.plans[name] = &linkmeshv1.Plan{
			Generation: p.generations,
			Targets:    targets,
			Created:    timestamppb.New(time.Now()),
		}
	}
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

func equalTargets(a, b []*linkmeshv1.Target) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// configChanged wakes every plan stream after a config reload.
func (p *planner) configChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.cfgChanged)
	p.cfgChanged = make(chan struct{})
}

// stop ends every plan stream (graceful shutdown waits for them).
func (p *planner) stop() {
	p.stopOnce.Do(func() { close(p.done) })
}
