package pathstate

import (
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestPlannedPathsOnly: once the plans are known, a result for a path no plan
// holds makes no path and is counted as NotPlanned; a planned path counts; a
// path that left the plans still counts for PlannedGrace (a backlog), then
// not; an existing path keeps counting whatever the plans say.
func TestPlannedPathsOnly(t *testing.T) {
	c := newClock()
	s := New(c.Now)
	s.Register(probeInfo("sql1", "sql", 1))
	planned := Key{Source: "sql1", SourceSite: "sql", Target: "mi01", TargetSite: "mi", Port: 5023, Kind: res(1).GetKind()}
	other := res(2)
	other.Target = "elsewhere"
	// Before SetPlanned: everything is admitted (tools, tests).
	if st, err := s.Ingest("sql1", 1, 0, seqs(1)); err != nil || st.Counted != 1 {
		t.Fatalf("before SetPlanned: %+v %v", st, err)
	}
	s.SetPlanned([]Key{planned})
	st, err := s.Ingest("sql1", 1, 0, []*linkmeshv1.Result{other, res(3)})
	if err != nil || st.NotPlanned != 1 || st.Counted != 1 || st.AckedSeq != 3 {
		t.Fatalf("one unplanned, one planned: %+v %v; want 1 not planned, 1 counted, cursor 3", st, err)
	}
	if n := len(s.Snapshot(time.Minute).Paths); n != 1 {
		t.Errorf("%d paths, want 1 (no path for the unplanned result)", n)
	}
	// The planned path leaves the plans; a new path to it (after the store
	// forgot it) is admitted within the grace, not after.
	s.SetPlanned(nil)
	s.mu.Lock()
	delete(s.paths, planned)
	s.mu.Unlock()
	c.Advance(PlannedGrace - time.Minute)
	if st, _ := s.Ingest("sql1", 1, 0, seqs(4)); st.Counted != 1 {
		t.Errorf("within the grace: %+v, want counted", st)
	}
	s.mu.Lock()
	delete(s.paths, planned)
	s.mu.Unlock()
	c.Advance(2 * time.Minute)
	s.SetPlanned(nil) // prunes what left more than the grace ago
	if st, _ := s.Ingest("sql1", 1, 0, seqs(5)); st.NotPlanned != 1 {
		t.Errorf("after the grace: %+v, want not planned", st)
	}
}
