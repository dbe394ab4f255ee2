package statedir

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// testClock is a settable clock for the stores of the forget tests.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tcpOK is a valid ok tcp result to target (site mi) at t.
func tcpOK(seq uint64, t time.Time, target string) *linkmeshv1.Result {
	return &linkmeshv1.Result{Seq: seq, Time: timestamppb.New(t), Kind: linkmeshv1.Kind_KIND_TCP,
		Target: target, TargetSite: "mi", Port: 5023, Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond)}
}

// save writes the store's checkpoint to d and commits it, as the coordinator's
// checkpointer does.
func save(t *testing.T, s *pathstate.Store, d *Dir) *pathstate.Checkpoint {
	t.Helper()
	c, _ := s.Checkpoint(true)
	if err := d.Save(c); err != nil {
		t.Fatal(err)
	}
	s.Commit(c)
	return c
}

// names lists the probe names and path sources and targets a checkpoint holds.
func names(c *pathstate.Checkpoint) map[string]bool {
	m := map[string]bool{}
	for _, p := range c.Probes {
		m[p.Name] = true
	}
	for _, p := range c.Paths {
		m[p.Source], m[p.Target] = true, true
	}
	return m
}

// TestForgetSurvivesCheckpoint: a forgotten probe leaves the state directory
// at the next save (forgetting alone is a change worth a save), and a
// coordinator restarted from it does not bring the probe or its paths back.
// A probe that fell silent while the coordinator was stopped is forgotten at
// the first look after the restore.
func TestForgetSurvivesCheckpoint(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	dir := filepath.Join(t.TempDir(), "state")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := pathstate.New(clk.Now)
	s.EnableCheckpoints()
	for _, name := range []string{"sql01", "old01"} {
		s.Register(&linkmeshv1.ProbeInfo{Name: name, Site: "sql", Epoch: 1, ResponderAddress: "198.18.0.1:5023"})
	}
	s.Register(&linkmeshv1.ProbeInfo{Name: "mi01", Site: "mi", Epoch: 1})
	for _, src := range []string{"sql01", "old01"} {
		if _, err := s.Ingest(src, 1, 0, []*linkmeshv1.Result{tcpOK(1, t0, "mi01")}); err != nil {
			t.Fatal(err)
		}
	}
	before := save(t, s, d)
	if !names(before)["old01"] {
		t.Fatal("old01 not in the first checkpoint")
	}

	// Eight days on: sql01 and mi01 still report, old01 said nothing.
	clk.Advance(8 * 24 * time.Hour)
	for _, p := range []string{"sql01", "mi01"} {
		if _, err := s.Ingest(p, 1, 0, []*linkmeshv1.Result{tcpOK(2, clk.Now(), "mi01")}); err != nil {
			t.Fatal(err)
		}
	}
	save(t, s, d)
	if f := s.ForgetSilent(pathstate.DefaultForgetAfter); len(f) != 1 || f[0].Name != "old01" {
		t.Fatalf("forgotten: %+v; want old01", f)
	}
	c, changed := s.Checkpoint(false)
	if !changed {
		t.Fatal("forgetting a probe left the checkpoint unchanged: the state directory would keep it")
	}
	if err := d.Save(c); err != nil {
		t.Fatal(err)
	}
	s.Commit(c)
	if names(c)["old01"] {
		t.Errorf("the checkpoint after forgetting still holds old01: %+v", c)
	}
	d.Close()

	// A restart restores from the state directory: old01 stays forgotten.
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	loaded, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	r := pathstate.New(clk.Now)
	r.EnableCheckpoints()
	if _, err := r.Restore(loaded); err != nil {
		t.Fatal(err)
	}
	if r.Known("old01") || !r.Known("sql01") {
		t.Errorf("after restore: old01 known %v, sql01 known %v; want false, true", r.Known("old01"), r.Known("sql01"))
	}
	for _, p := range r.Snapshot(time.Minute).Paths {
		if p.Source == "old01" || p.Target == "old01" {
			t.Errorf("restored path %s → %s", p.Source, p.Target)
		}
	}

	// The checkpoint from before, restored eight days later (the coordinator
	// was stopped meanwhile): old01 goes at the first look.
	late := pathstate.New(clk.Now)
	late.EnableCheckpoints()
	if _, err := late.Restore(before); err != nil {
		t.Fatal(err)
	}
	if f := late.ForgetSilent(pathstate.DefaultForgetAfter); len(f) != 3 {
		t.Errorf("forgotten after a restore 8 days on: %+v; want all three (none reported since)", f)
	}
}
