package pathstate

import (
	"slices"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// roundRes is res(seq) as a result of check round id.
func roundRes(seq uint64, id string) *linkmeshv1.Result {
	r := res(seq)
	r.Round, r.TargetId = id, "check/"+id+"/p3"
	r.Target, r.TargetSite, r.Port = "sql01", "sql", 5022
	return r
}

// TestIngestAside: results set aside (as the coordinator sets aside those of
// check rounds) move the cursor (a replay of them is a duplicate) and are
// handed back, but create no path, count nothing and use none of the probe's
// path limit.
func TestIngestAside(t *testing.T) {
	type batch struct {
		results     []*linkmeshv1.Result
		wantCounted int
		wantRound   []uint64 // seqs handed back
		wantDup     int
		wantAcked   uint64
	}
	tests := []struct {
		name      string
		limit     int // Limits.MaxPathsPerProbe
		batches   []batch
		wantPaths int
	}{
		{
			name: "round results only: no path",
			batches: []batch{
				{[]*linkmeshv1.Result{roundRes(1, "chk-1"), roundRes(2, "chk-1")}, 0, []uint64{1, 2}, 0, 2},
			},
		},
		{
			name: "mixed batch: the path counts only its own",
			batches: []batch{
				{[]*linkmeshv1.Result{res(1), roundRes(2, "chk-1"), res(3)}, 2, []uint64{2}, 0, 3},
			},
			wantPaths: 1,
		},
		{
			name: "replayed round results are duplicates, not handed back again",
			batches: []batch{
				{[]*linkmeshv1.Result{roundRes(1, "chk-1"), roundRes(2, "chk-1")}, 0, []uint64{1, 2}, 0, 2},
				{[]*linkmeshv1.Result{roundRes(1, "chk-1"), roundRes(2, "chk-1"), roundRes(3, "chk-1")}, 0, []uint64{3}, 2, 3},
			},
		},
		{
			name:  "round results use no path slot",
			limit: 1,
			batches: []batch{
				{[]*linkmeshv1.Result{roundRes(1, "chk-1"), res(2)}, 1, []uint64{1}, 0, 2},
			},
			wantPaths: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(newClock().Now)
			s.SetLimits(Limits{MaxPathsPerProbe: tt.limit})
			s.SetAside(func(r *linkmeshv1.Result) bool { return r.GetRound() != "" })
			s.Register(probeInfo("mi01", "mi", 1))
			for i, b := range tt.batches {
				st, err := s.Ingest("mi01", 1, 0, b.results)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				var got []uint64
				for _, r := range st.Aside {
					got = append(got, r.GetSeq())
				}
				if st.Counted != b.wantCounted || !slices.Equal(got, b.wantRound) || st.Duplicates != b.wantDup || st.AckedSeq != b.wantAcked || st.Rejected != 0 {
					t.Errorf("batch %d: got counted %d, round %v, duplicates %d, acked %d, rejected %d; want %d, %v, %d, %d, 0",
						i, st.Counted, got, st.Duplicates, st.AckedSeq, st.Rejected, b.wantCounted, b.wantRound, b.wantDup, b.wantAcked)
				}
			}
			snap := s.Snapshot(0)
			if len(snap.Paths) != tt.wantPaths {
				t.Fatalf("paths: got %d, want %d: %+v", len(snap.Paths), tt.wantPaths, snap.Paths)
			}
			for _, p := range snap.Paths {
				if p.Target == "sql01" {
					t.Errorf("a round result made a path: %+v", p.Key)
				}
			}
		})
	}
}

// TestLookupAndConnected: Lookup copies a probe's state; Connected lists the
// probes with an open plan stream.
func TestLookupAndConnected(t *testing.T) {
	s := New(newClock().Now)
	if _, ok := s.Lookup("ghost"); ok {
		t.Error("Lookup of an unknown probe: ok, want not found")
	}
	for _, n := range []string{"sql01", "mi02", "mi01"} {
		s.Register(probeInfo(n, "x", 1))
	}
	s.StreamOpened("mi02")
	s.StreamOpened("sql01")
	s.StreamOpened("sql01")
	var names []string
	for _, p := range s.Connected() {
		names = append(names, p.GetName())
	}
	if want := []string{"mi02", "sql01"}; !slices.Equal(names, want) {
		t.Errorf("Connected: got %v, want %v", names, want)
	}
	s.SetStandIns("sql01", []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING}})
	p, ok := s.Lookup("sql01")
	if !ok || p.Streams != 2 || len(p.StandIns) != 1 || p.Info.GetName() != "sql01" {
		t.Errorf("Lookup(sql01): got %+v, %v; want 2 streams and one stand-in", p, ok)
	}
}
