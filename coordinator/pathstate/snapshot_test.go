package pathstate

// Tests of what the store tells its readers: snapshots and liveness, change
// notification, plan streams, and concurrent use. Ingest's tests are in
// store_test.go.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

func TestSnapshotLiveness(t *testing.T) {
	const stale = 45 * time.Second
	clk := newClock()
	s := New(clk.Now)
	s.Register(probeInfo("sql01", "sql", 1))
	s.StreamOpened("sql01")
	up := func() bool { return onlyProbeStale(t, s, stale).Up }

	if up() {
		t.Errorf("registered, never reported: got up, want down")
	}
	clk.Advance(time.Second)
	if _, err := s.Ingest("sql01", 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	reported := clk.Now()
	if p := onlyProbeStale(t, s, stale); !p.Up || !p.LastReport.Equal(reported) {
		t.Errorf("just reported: got up=%v LastReport=%v, want up at %v", p.Up, p.LastReport, reported)
	}
	clk.Advance(stale)
	if !up() {
		t.Errorf("exactly staleAfter since the report: got down, want up")
	}
	clk.Advance(time.Nanosecond)
	if up() {
		t.Errorf("staleAfter+1ns since the report: got up, want down")
	}

	// Fresh again, then the plan stream closes (the process died): down at once.
	if _, err := s.Ingest("sql01", 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !up() {
		t.Errorf("reported again: got down, want up")
	}
	s.StreamClosed("sql01")
	if up() {
		t.Errorf("plan stream closed: got up, want down")
	}
	s.StreamOpened("sql01")
	info := probeInfo("sql01", "sql", 1)
	for _, tt := range []struct {
		state GossipState
		want  bool
	}{{GossipAlive, true}, {GossipDead, false}, {GossipLeft, false}, {GossipAlive, true}} {
		s.SetMembers([]Member{{Info: info, State: tt.state, Since: clk.Now()}})
		if got := up(); got != tt.want {
			t.Errorf("gossip %s: got up=%v, want %v", tt.state, got, tt.want)
		}
	}
	if snap := s.Snapshot(stale); !snap.Taken.Equal(clk.Now()) {
		t.Errorf("Taken: got %v, want %v", snap.Taken, clk.Now())
	}
	// Registering again is not reporting.
	clk.Advance(stale + time.Nanosecond)
	s.Register(probeInfo("sql01", "sql", 1))
	if up() {
		t.Errorf("re-registered without reporting: got up, want down")
	}
	// A refused batch (old epoch) is not a report either.
	s.Register(probeInfo("sql01", "sql", 2))
	if _, err := s.Ingest("sql01", 1, 0, nil); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("got %v, want ErrEpochChanged", err)
	}
	if up() {
		t.Errorf("after a refused batch: got up, want down")
	}
}

func onlyProbeStale(t *testing.T, s *Store, stale time.Duration) ProbeState {
	t.Helper()
	snap := s.Snapshot(stale)
	if len(snap.Probes) != 1 {
		t.Fatalf("probes: got %d, want 1", len(snap.Probes))
	}
	return snap.Probes[0]
}

// TestSnapshotIsACopy: changing the store afterwards does not change a snapshot.
func TestSnapshotIsACopy(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	if _, err := s.Ingest("sql01", 1, 0, seqs(1)); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot(time.Minute)
	if _, err := s.Ingest("sql01", 1, 0, seqs(2, 3)); err != nil {
		t.Fatal(err)
	}
	if got := snap.Paths[0].Counts[linkmeshv1.Code_CODE_OK]; got != 1 {
		t.Errorf("snapshot changed after a later Ingest: got ok count %d, want 1", got)
	}
	if got := snap.Probes[0].AckedSeq; got != 1 {
		t.Errorf("snapshot changed after a later Ingest: got AckedSeq %d, want 1", got)
	}
}

// TestSnapshotOrderDeterministic: paths that differ only in their sites (a probe
// moved site, a static target's site was edited) still come out in one order.
func TestSnapshotOrderDeterministic(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	var batch []*linkmeshv1.Result
	for i, site := range []string{"mi", "mi-old", "external", "azure", "b", "c"} {
		r := res(uint64(i + 1))
		r.TargetSite = site
		batch = append(batch, r)
	}
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		var sites []string
		for _, p := range s.Snapshot(time.Minute).Paths {
			sites = append(sites, p.TargetSite)
		}
		return fmt.Sprint(sites)
	}
	first := order()
	for i := range 50 {
		if got := order(); got != first {
			t.Fatalf("snapshot %d: got path order %s, want %s (same as the first)", i, got, first)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestChanged(t *testing.T) {
	base := probeInfo("sql01", "sql", 1)
	tests := []struct {
		name   string
		modify func(p *linkmeshv1.ProbeInfo)
		want   bool
	}{
		{"identical re-register", func(p *linkmeshv1.ProbeInfo) {}, false},
		{"same labels in a new map", func(p *linkmeshv1.ProbeInfo) { p.Labels = map[string]string{"role": "primary"} }, false},
		{"new epoch only", func(p *linkmeshv1.ProbeInfo) { p.Epoch = 2 }, false},
		{"site changed", func(p *linkmeshv1.ProbeInfo) { p.Site = "mi" }, true},
		{"responder address changed", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "10.0.0.9:5023" }, true},
		{"label value changed", func(p *linkmeshv1.ProbeInfo) { p.Labels["role"] = "secondary" }, true},
		{"label added", func(p *linkmeshv1.ProbeInfo) { p.Labels["zone"] = "a" }, true},
		{"labels removed", func(p *linkmeshv1.ProbeInfo) { p.Labels = nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(newClock().Now)
			before := s.Changed()
			s.Register(proto.Clone(base).(*linkmeshv1.ProbeInfo))
			if !isClosed(before) {
				t.Fatalf("first Register of a probe: Changed not closed, want closed")
			}
			ch := s.Changed()
			if isClosed(ch) {
				t.Fatalf("Changed after the first Register: got a closed channel, want a fresh one")
			}
			info := proto.Clone(base).(*linkmeshv1.ProbeInfo)
			tt.modify(info)
			s.Register(info)
			if got := isClosed(ch); got != tt.want {
				t.Errorf("Changed closed: got %v, want %v", got, tt.want)
			}
			if got := s.Probes(); len(got) != 1 || !proto.Equal(got[0], info) {
				t.Errorf("Probes: got %v, want [%v]", got, info)
			}
		})
	}
}

func TestChangedSecondProbe(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	ch := s.Changed()
	s.Register(probeInfo("mi01", "mi", 1))
	if !isClosed(ch) {
		t.Errorf("a second probe registered: Changed not closed, want closed")
	}
	names := []string{}
	for _, p := range s.Probes() {
		names = append(names, p.GetName())
	}
	if fmt.Sprint(names) != "[mi01 sql01]" {
		t.Errorf("Probes: got %v, want [mi01 sql01] (sorted)", names)
	}
	if !s.Known("mi01") || s.Known("nobody") {
		t.Errorf("Known: got mi01=%v nobody=%v, want true, false", s.Known("mi01"), s.Known("nobody"))
	}
}

func TestStreams(t *testing.T) {
	s := New(newClock().Now)
	s.StreamOpened("ghost") // unknown: ignored
	s.Register(probeInfo("sql01", "sql", 1))
	s.StreamOpened("sql01")
	s.StreamOpened("sql01")
	s.StreamClosed("sql01")
	if got := onlyProbe(t, s).Streams; got != 1 {
		t.Errorf("streams: got %d, want 1", got)
	}
	s.StreamClosed("sql01")
	s.StreamClosed("sql01") // never below zero
	if got := onlyProbe(t, s).Streams; got != 0 {
		t.Errorf("streams: got %d, want 0", got)
	}
}

// TestConcurrentUse is for the race detector.
func TestConcurrentUse(t *testing.T) {
	s := New(time.Now)
	const probes, batches, per = 4, 50, 10
	var wg sync.WaitGroup
	for p := range probes {
		name := fmt.Sprintf("p%d", p)
		s.Register(probeInfo(name, "sql", 1))
		wg.Go(func() {
			for b := range batches {
				first := uint64(b*per + 1)
				batch := make([]*linkmeshv1.Result, per)
				for i := range batch {
					batch[i] = res(first + uint64(i))
				}
				if _, err := s.Ingest(name, 1, 0, batch); err != nil {
					t.Error(err)
					return
				}
				// Replay half of it.
				if st, err := s.Ingest(name, 1, 0, batch[per/2:]); err != nil || st.Counted != 0 {
					t.Errorf("replay: got %+v, %v; want nothing counted", st, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			s.Snapshot(time.Minute)
			s.Probes()
			isClosed(s.Changed())
		}
	})
	wg.Go(func() {
		for i := range 100 {
			s.Register(probeInfo(fmt.Sprintf("churn%d", i), "mi", 1))
		}
	})
	wg.Wait()
	for _, p := range s.Snapshot(time.Minute).Paths {
		if p.Counts[linkmeshv1.Code_CODE_OK] != batches*per {
			t.Errorf("%s: got %d ok, want %d", p.Source, p.Counts[linkmeshv1.Code_CODE_OK], batches*per)
		}
	}
}
