package pathstate

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestClockSkewBound: probe times beyond the skew bound are clamped to it
// (ahead of the coordinator's clock, behind the probe's latest result), a
// replayed backlog that is old but in order keeps its times, a new bound
// applies at once, and a new epoch starts without the old latest time.
func TestClockSkewBound(t *testing.T) {
	clk := newClock()
	s := New(clk.Now)
	skew := time.Minute
	s.SetClockSkew(func() time.Duration { return skew })
	s.Register(probeInfo("sql01", "sql", 1))
	at := func(seq uint64, d time.Duration) *resultAt { return &resultAt{seq, t0.Add(d)} }
	ingest := func(epoch uint64, rs ...*resultAt) IngestStats {
		t.Helper()
		batch := seqs()
		for _, r := range rs {
			x := res(r.seq)
			x.Time = timestamppb.New(r.t)
			batch = append(batch, x)
		}
		st, err := s.Ingest("sql01", epoch, 0, batch)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// A backlog two hours old, in order: kept as it is.
	st := ingest(1, at(1, -2*time.Hour), at(2, -2*time.Hour+time.Second))
	if st.ClampedFuture+st.ClampedPast != 0 || !onlyPath(t, s).LastTime.Equal(t0.Add(-2*time.Hour+time.Second)) {
		t.Errorf("backlog: %+v, last %v; want its own times", st, onlyPath(t, s).LastTime)
	}
	// Ahead of the coordinator by an hour: clamped to now + 1m.
	st = ingest(1, at(3, time.Hour))
	if st.ClampedFuture != 1 || st.ClampedBy != 59*time.Minute || !onlyPath(t, s).LastTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("ahead: %+v, last %v", st, onlyPath(t, s).LastTime)
	}
	// Back by an hour from there: clamped to the latest minus 1m.
	st = ingest(1, at(4, 0), at(5, -time.Hour))
	if st.ClampedPast != 1 || !onlyPath(t, s).LastTime.Equal(t0) {
		t.Errorf("back: %+v, last %v", st, onlyPath(t, s).LastTime)
	}
	// A wider bound applies to the next batch.
	skew = 2 * time.Hour
	if st = ingest(1, at(6, time.Hour)); st.ClampedFuture != 0 {
		t.Errorf("after widening the bound: %+v, want nothing clamped", st)
	}
	// A new epoch forgets the latest time: its backlog may be older.
	s.Register(probeInfo("sql01", "sql", 2))
	if st = ingest(2, at(1, -5*time.Hour)); st.ClampedPast != 0 {
		t.Errorf("new epoch: %+v, want nothing clamped", st)
	}
}

type resultAt struct {
	seq uint64
	t   time.Time
}

// TestSeqJumpAfterAbsence: while a coordinator did not hear from a probe (it
// left the mesh for a day, say, and came back with its checkpoint), the probe
// forgot what other coordinators acked; the jump that leaves is allowed in
// proportion to the time away (MaxResultRate), and no more.
func TestSeqJumpAfterAbsence(t *testing.T) {
	clk := newClock()
	s := New(clk.Now)
	s.Register(probeInfo("sql01", "sql", 1))
	if _, err := s.Ingest("sql01", 1, 0, seqs(1)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	day := uint64(24*3600+1) * MaxResultRate
	limit := 1 + MaxSeqJump + 1 + day // cursor, jump, a batch of one, the day
	if _, err := s.Ingest("sql01", 1, 0, seqs(limit+1)); !errors.Is(err, ErrSeqJump) {
		t.Errorf("a jump beyond a day's results: %v, want ErrSeqJump", err)
	}
	st, err := s.Ingest("sql01", 1, 0, seqs(limit))
	if err != nil || st.Counted != 1 {
		t.Fatalf("a day's results: %+v, %v; want accepted", st, err)
	}
	// Right after, the allowance is back to MaxSeqJump and a second's worth.
	if _, err := s.Ingest("sql01", 1, 0, seqs(limit+MaxSeqJump+1+MaxResultRate+1)); !errors.Is(err, ErrSeqJump) {
		t.Errorf("a second jump right after: %v, want ErrSeqJump", err)
	}
}
