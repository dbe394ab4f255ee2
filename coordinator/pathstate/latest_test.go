package pathstate

import (
	"encoding/json"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestLastRTTIsTheLastAttempts: after an ok at 2 ms, a timeout (no RTT) makes
// LastRTT 0, never the older success's figure, which stays in LastSuccessRTT;
// both survive a checkpoint.
func TestLastRTTIsTheLastAttempts(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	ok := res(1)
	ok.Rtt = durationpb.New(2 * time.Millisecond)
	timeout := res(2)
	timeout.Code, timeout.Rtt, timeout.Detail = linkmeshv1.Code_CODE_TIMEOUT, nil, "i/o timeout"
	if _, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{ok, timeout}); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, s)
	if p.LastRTT != 0 || p.LastSuccessRTT != 2*time.Millisecond {
		t.Errorf("after ok (2 ms) then timeout: LastRTT %v, LastSuccessRTT %v; want 0 and 2ms", p.LastRTT, p.LastSuccessRTT)
	}
	cp, _ := s.Checkpoint(true)
	r := New(newClock().Now)
	if _, err := r.Restore(roundTrip(t, cp)); err != nil {
		t.Fatal(err)
	}
	if q := onlyPath(t, r); q.LastRTT != 0 || q.LastSuccessRTT != 2*time.Millisecond {
		t.Errorf("restored: LastRTT %v, LastSuccessRTT %v; want 0 and 2ms", q.LastRTT, q.LastSuccessRTT)
	}
}

// TestTotalsSurviveARestart: the ingested and duplicate totals are in the
// checkpoint; with checkpoints they are exported as committed, and a restored
// store continues from them (they never go backwards across a crash).
func TestTotalsSurviveARestart(t *testing.T) {
	s := New(newClock().Now)
	s.EnableCheckpoints()
	s.Register(probeInfo("sql01", "sql", 1))
	if _, err := s.Ingest("sql01", 1, 0, seqs(1, 2, 3, 2)); err != nil {
		t.Fatal(err)
	}
	if got := s.Totals(); got != (Totals{}) {
		t.Errorf("totals before a checkpoint: %+v, want zero (nothing committed)", got)
	}
	cp, _ := s.Checkpoint(false)
	s.Commit(cp)
	if got, want := s.Totals(), (Totals{Ingested: 3, Duplicates: 1}); got != want {
		t.Errorf("committed totals %+v, want %+v", got, want)
	}
	s.Ingest("sql01", 1, 0, seqs(4)) // counted, never committed: lost in the crash

	r := New(newClock().Now)
	r.EnableCheckpoints()
	if _, err := r.Restore(roundTrip(t, cp)); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Totals(), (Totals{Ingested: 3, Duplicates: 1}); got != want {
		t.Errorf("restored totals %+v, want %+v", got, want)
	}
	r.TryRegister(probeInfo("sql01", "sql", 1))
	r.Ingest("sql01", 1, 0, seqs(4)) // the probe's replay
	cp2, _ := r.Checkpoint(false)
	r.Commit(cp2)
	if got, want := r.Totals(), (Totals{Ingested: 4, Duplicates: 1}); got != want {
		t.Errorf("after the replay: %+v, want %+v", got, want)
	}

	// Without checkpoints the totals are live.
	l := New(newClock().Now)
	l.Register(probeInfo("sql01", "sql", 1))
	l.Ingest("sql01", 1, 0, seqs(1, 1))
	if got, want := l.Totals(), (Totals{Ingested: 1, Duplicates: 1}); got != want {
		t.Errorf("live totals %+v, want %+v", got, want)
	}
}

// roundTrip passes a checkpoint through JSON, as the state directory does.
func roundTrip(t *testing.T, cp *Checkpoint) *Checkpoint {
	t.Helper()
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var back Checkpoint
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}
