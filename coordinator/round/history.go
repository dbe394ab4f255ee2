package round

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/proto/vocab"
)

// historySize is how many ended rounds Recent remembers.
const historySize = 20

// Summary is an ended round as the status page shows it: who ran it, when,
// how its collection ended and what each target measured. It carries no
// pass or fail: the check's verdict is the caller's, from rules the
// coordinator does not apply (a refusal on the HADR range passes, say).
type Summary struct {
	ID      string        `json:"id"`
	Caller  string        `json:"caller"` // "operator/alice", "probe/sql01", "unauthenticated"
	Remote  string        `json:"remote"`
	Probe   string        `json:"probe"`
	Peer    string        `json:"peer"`
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	// Outcome is complete (every attempt's result arrived) or partial.
	Outcome string `json:"outcome"`
	Rows    []Row  `json:"rows"`
}

// Row is one target of an ended round.
type Row struct {
	Role   string `json:"role"`
	Source string `json:"source"`
	Target string `json:"target"`
	// Results counts the attempts' results by name; Latest is the last one's
	// ("" when none arrived).
	Results map[string]int `json:"results"`
	Latest  string         `json:"latest"`
}

// history is a ring of the latest ended rounds.
type history struct {
	mu    sync.Mutex
	ended []Summary // oldest first, at most historySize
}

func (h *history) add(s Summary) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.ended) == historySize {
		h.ended = slices.Delete(h.ended, 0, 1)
	}
	h.ended = append(h.ended, s)
}

// Recent returns the ended rounds this coordinator remembers (the last 20),
// newest first.
func (r *Runner) Recent() []Summary {
	r.history.mu.Lock()
	defer r.history.mu.Unlock()
	out := append([]Summary{}, r.history.ended...)
	slices.Reverse(out)
	return out
}

// summarize builds the Summary of an ended round.
func summarize(id, caller, remote string, sp spec, started time.Time, took time.Duration, o outcome) Summary {
	s := Summary{ID: id, Caller: caller, Remote: remote, Probe: sp.probe.GetName(), Peer: sp.peer.GetName(),
		Started: started, Took: took, Outcome: o.outcome, Rows: []Row{}}
	for _, t := range o.round.GetTargets() {
		tg := t.GetTarget()
		name := tg.GetName()
		if name == "" {
			name = net.JoinHostPort(tg.GetHost(), strconv.FormatUint(uint64(tg.GetPort()), 10))
		}
		row := Row{Role: t.GetRole(), Source: t.GetSource(), Target: name, Results: map[string]int{}}
		for _, res := range t.GetResults() {
			name := vocab.CodeName(res.GetCode())
			row.Results[name]++
			row.Latest = name
		}
		s.Rows = append(s.Rows, row)
	}
	return s
}
