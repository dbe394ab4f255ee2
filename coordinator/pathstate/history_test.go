package pathstate

import (
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestViewWithHistory: a path's history is its last n attempts, oldest first,
// with their codes and RTTs; n is bounded by MaxHistory.
func TestViewWithHistory(t *testing.T) {
	c := newClock()
	s := New(c.Now)
	s.Register(probeInfo("sql1", "sql", 1))
	rs := seqs(1, 2, 3, 4, 5)
	rs[3].Code = linkmeshv1.Code_CODE_TIMEOUT
	rs[3].Rtt = nil
	if _, err := s.Ingest("sql1", 1, 0, rs); err != nil {
		t.Fatal(err)
	}
	_, hist := s.ViewWithHistory(time.Minute, time.Hour, 3)
	if len(hist) != 1 {
		t.Fatalf("history of %d paths, want 1", len(hist))
	}
	for _, marks := range hist {
		if len(marks) != 3 || marks[0].Code != linkmeshv1.Code_CODE_OK || marks[1].Code != linkmeshv1.Code_CODE_TIMEOUT || marks[1].RTT != 0 || marks[2].Code != linkmeshv1.Code_CODE_OK {
			t.Errorf("history %+v: want the last 3, oldest first (ok, timeout, ok)", marks)
		}
		if !marks[0].Time.Before(marks[2].Time) {
			t.Errorf("history not oldest first: %v then %v", marks[0].Time, marks[2].Time)
		}
	}
	if _, hist := s.ViewWithHistory(time.Minute, time.Hour, 10*MaxHistory); len(hist) != 1 {
		t.Errorf("an n beyond MaxHistory: %d paths", len(hist))
	}
	if _, hist := s.ViewWithHistory(time.Minute, time.Hour, 0); len(hist) != 0 {
		t.Errorf("n = 0 gave history for %d paths", len(hist))
	}
}
