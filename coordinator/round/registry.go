package round

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// registry tracks the running rounds: which probes are busy (one round at a
// time per probe) and which round each result belongs to. Run begins and
// ends rounds; Deliver hands them results.
type registry struct {
	logger *slog.Logger

	mu   sync.Mutex
	busy map[string]*round // by probe name
	byID map[string]*round
}

func newRegistry(logger *slog.Logger) *registry {
	return &registry{logger: logger, busy: map[string]*round{}, byID: map[string]*round{}}
}

// round is one running check round. Its targets' results are guarded by
// registry.mu.
type round struct {
	id      string
	started time.Time
	probes  []string
	targets []*roundTarget
	// changed is notified whenever a result arrives.
	changed notify.Signal
}

// roundTarget is one target of a round and the results that reached it.
type roundTarget struct {
	role    string
	source  string // the probe whose plan holds it
	target  *linkmeshv1.Target
	results []*linkmeshv1.Result
}

// newID returns a short random round id, e.g. "chk-3f9a0c1d".
func newID() string {
	b := make([]byte, 4)
	rand.Read(b) // never fails (crypto/rand)
	return "chk-" + hex.EncodeToString(b)
}

// begin starts a round over the probes, or refuses with Aborted when one of
// them is in a running round already.
func (rs *registry) begin(id string, started time.Time, probes ...string) (*round, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range probes {
		if other, ok := rs.busy[p]; ok {
			return nil, status.Errorf(codes.Aborted, "a check round is running on %s (round %s, started %s); run again when it ends",
				p, other.id, other.started.UTC().Format(time.RFC3339))
		}
	}
	r := &round{id: id, started: started, probes: probes}
	for _, p := range probes {
		rs.busy[p] = r
	}
	rs.byID[id] = r
	return r, nil
}

// end frees the round's probes; results for it that arrive later are ignored.
func (rs *registry) end(r *round) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range r.probes {
		if rs.busy[p] == r {
			delete(rs.busy, p)
		}
	}
	delete(rs.byID, r.id)
}

// count is the number of running rounds.
func (rs *registry) count() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.byID)
}

// setTargets gives the round its targets, before they go into any plan.
func (rs *registry) setTargets(r *round, targets []*roundTarget) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.targets = targets
}

// deliver hands new results of check rounds from probe to their rounds; see
// Runner.Deliver.
func (rs *registry) deliver(probe string, results []*linkmeshv1.Result) {
	if len(results) == 0 {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	touched := map[*round]bool{}
	late, stray := 0, 0
	for _, res := range results {
		r, ok := rs.byID[res.GetRound()]
		if !ok {
			late++
			continue
		}
		i := slices.IndexFunc(r.targets, func(t *roundTarget) bool { return t.target.GetId() == res.GetTargetId() })
		if i < 0 || r.targets[i].source != probe {
			stray++
			continue
		}
		t := r.targets[i]
		if uint32(len(t.results)) >= t.target.GetAttempts() || slices.ContainsFunc(t.results, func(x *linkmeshv1.Result) bool { return x.GetSeq() == res.GetSeq() }) {
			continue
		}
		t.results = append(t.results, res)
		touched[r] = true
	}
	for r := range touched {
		r.changed.Notify()
	}
	if late > 0 {
		rs.logger.Debug("results of check rounds that are not running; ignored", "probe", probe, "results", late)
	}
	if stray > 0 {
		rs.logger.Warn("results of a running check round for no target of it in this probe's plan; ignored", "probe", probe, "results", stray)
	}
}

// progress returns how many results each target has (in r.targets' order),
// whether every target has all its attempts, and a channel closed at the next
// result.
func (rs *registry) progress(r *round) (counts []int, complete bool, changed <-chan struct{}) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	complete = true
	for _, t := range r.targets {
		counts = append(counts, len(t.results))
		if uint32(len(t.results)) < t.target.GetAttempts() {
			complete = false
		}
	}
	return counts, complete, r.changed.C()
}

// latest returns the most recent result of the round's target i (nil: none).
func (rs *registry) latest(r *round, i int) *linkmeshv1.Result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if n := len(r.targets[i].results); n > 0 {
		return r.targets[i].results[n-1]
	}
	return nil
}

// collect copies the round's targets and their results, each in sequence
// order, for the CheckRound.
func (rs *registry) collect(r *round) []*linkmeshv1.CheckTarget {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]*linkmeshv1.CheckTarget, 0, len(r.targets))
	for _, t := range r.targets {
		ct := &linkmeshv1.CheckTarget{Role: t.role, Source: t.source, Target: proto.Clone(t.target).(*linkmeshv1.Target)}
		for _, res := range t.results {
			ct.Results = append(ct.Results, proto.Clone(res).(*linkmeshv1.Result))
		}
		slices.SortFunc(ct.Results, func(a, b *linkmeshv1.Result) int { return cmp.Compare(a.GetSeq(), b.GetSeq()) })
		out = append(out, ct)
	}
	return out
}
