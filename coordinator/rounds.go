package coordinator

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"sync"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The roles of a check round's targets, in the order a CheckRound lists them.
const (
	roleP3           = "p3"             // peer → SQL Server's endpoint (echo through a stand-in, else tcp)
	roleD2           = "d2"             // peer resolves sql_host (only when it is a name)
	roleEchoToPeer   = "echo_to_peer"   // probe → peer's responder: path MTU, burst
	roleEchoFromPeer = "echo_from_peer" // peer → probe's responder: path MTU
)

// rounds tracks the check rounds running on one coordinator: which probes are
// busy (one round at a time per probe) and which round each result belongs to.
// RunCheck handlers begin and end rounds; Report handlers deliver results.
type rounds struct {
	logger *slog.Logger

	mu   sync.Mutex
	busy map[string]*round // by probe name
	byID map[string]*round
}

func newRounds(logger *slog.Logger) *rounds {
	return &rounds{logger: logger, busy: map[string]*round{}, byID: map[string]*round{}}
}

// round is one running check round. Its targets' results are guarded by
// rounds.mu.
type round struct {
	id      string
	started time.Time
	probes  []string
	targets []*roundTarget
	// changed is closed and replaced whenever a result arrives.
	changed chan struct{}
}

// roundTarget is one target of a round and the results that reached it.
type roundTarget struct {
	role    string
	source  string // the probe whose plan holds it
	target  *linkmeshv1.Target
	results []*linkmeshv1.Result
}

// newRoundID returns a short random round id, e.g. "chk-3f9a0c1d".
func newRoundID() string {
	b := make([]byte, 4)
	rand.Read(b) // never fails (crypto/rand)
	return "chk-" + hex.EncodeToString(b)
}

// begin starts a round over the probes, or refuses with Aborted when one of
// them is in a running round already.
func (rs *rounds) begin(id string, started time.Time, probes ...string) (*round, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range probes {
		if other, ok := rs.busy[p]; ok {
			return nil, status.Errorf(codes.Aborted, "a check round is running on %s (round %s, started %s); run again when it ends",
				p, other.id, other.started.UTC().Format(time.RFC3339))
		}
	}
	r := &round{id: id, started: started, probes: probes, changed: make(chan struct{})}
	for _, p := range probes {
		rs.busy[p] = r
	}
	rs.byID[id] = r
	return r, nil
}

// end frees the round's probes; results for it that arrive later are ignored.
func (rs *rounds) end(r *round) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, p := range r.probes {
		if rs.busy[p] == r {
			delete(rs.busy, p)
		}
	}
	delete(rs.byID, r.id)
}

// setTargets gives the round its targets, before they go into any plan.
func (rs *rounds) setTargets(r *round, targets []*roundTarget) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.targets = targets
}

// deliver hands new results of check rounds (pathstate.IngestStats.Round)
// from probe to their rounds. A result counts only for a target of its round
// that is in probe's plan, and at most Target.attempts results per target.
func (rs *rounds) deliver(probe string, results []*linkmeshv1.Result) {
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
		close(r.changed)
		r.changed = make(chan struct{})
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
func (rs *rounds) progress(r *round) (counts []int, complete bool, changed <-chan struct{}) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	complete = true
	for _, t := range r.targets {
		counts = append(counts, len(t.results))
		if uint32(len(t.results)) < t.target.GetAttempts() {
			complete = false
		}
	}
	return counts, complete, r.changed
}

// latest returns the most recent result of the round's target i (nil: none).
func (rs *rounds) latest(r *round, i int) *linkmeshv1.Result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if n := len(r.targets[i].results); n > 0 {
		return r.targets[i].results[n-1]
	}
	return nil
}

// collect copies the round's targets and their results, each in sequence
// order, for the CheckRound.
func (rs *rounds) collect(r *round) []*linkmeshv1.CheckTarget {
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
