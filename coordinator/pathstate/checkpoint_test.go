package pathstate

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestDurableAcks: with checkpoints, acks and exported counters follow the last
// committed checkpoint; a restore from it continues exactly where it was.
func TestDurableAcks(t *testing.T) {
	clk := newClock()
	s := New(clk.Now)
	s.EnableCheckpoints()
	if c := s.Register(probeInfo("sql01", "sql", 7)); c != 0 {
		t.Fatalf("register: %d", c)
	}
	st, err := s.Ingest("sql01", 7, 0, seqs(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if st.ReceivedSeq != 3 || st.AckedSeq != 0 {
		t.Errorf("before a checkpoint: received %d acked %d, want 3 and 0", st.ReceivedSeq, st.AckedSeq)
	}
	if n := onlyPath(t, s).Counts[linkmeshv1.Code_CODE_OK]; n != 0 {
		t.Errorf("exported ok count before a checkpoint: %d, want 0 (nothing durable yet)", n)
	}
	cp, changed := s.Checkpoint(false)
	if !changed {
		t.Fatal("Checkpoint: nothing changed?")
	}
	if _, again := s.Checkpoint(false); again {
		t.Error("a second Checkpoint without changes reported a change")
	}
	st, _ = s.Ingest("sql01", 7, 0, seqs(4))
	if st.AckedSeq != 0 {
		t.Errorf("acked before commit: %d, want 0", st.AckedSeq)
	}
	s.Commit(cp)
	st, _ = s.Ingest("sql01", 7, 0, nil)
	if st.AckedSeq != 3 || st.ReceivedSeq != 4 {
		t.Errorf("after committing the checkpoint of 1..3: acked %d received %d, want 3 and 4", st.AckedSeq, st.ReceivedSeq)
	}
	if n := onlyPath(t, s).Counts[linkmeshv1.Code_CODE_OK]; n != 3 {
		t.Errorf("exported ok count: %d, want 3 (the committed checkpoint's)", n)
	}

	// A crash now loses seq 4 (counted, never committed); the restored store
	// has 1..3 and counts a replay of 4 exactly once.
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var back Checkpoint
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	r := New(clk.Now)
	r.EnableCheckpoints()
	if _, err := r.Restore(&back); err != nil {
		t.Fatal(err)
	}
	cur, err := r.TryRegister(probeInfo("sql01", "sql", 7))
	if err != nil || cur.Acked != 3 || cur.Received != 3 {
		t.Errorf("register after restore: %+v, %v; want acked = received = 3", cur, err)
	}
	st, _ = r.Ingest("sql01", 7, 0, seqs(1, 2, 3, 4))
	if st.Counted != 1 || st.Duplicates != 3 {
		t.Errorf("replay after restore: counted %d duplicates %d, want 1 and 3", st.Counted, st.Duplicates)
	}
	cp2, _ := r.Checkpoint(false)
	r.Commit(cp2)
	got := onlyPath(t, r)
	if got.Counts[linkmeshv1.Code_CODE_OK] != 4 || got.RTTCount != 4 {
		t.Errorf("after replay: ok %d rtt count %d, want 4 and 4", got.Counts[linkmeshv1.Code_CODE_OK], got.RTTCount)
	}
	if p := onlyProbe(t, r); p.Gaps != 0 {
		t.Errorf("gaps after an exact replay: %d", p.Gaps)
	}
	if !reflect.DeepEqual(back.Paths[0].Counters, cp.Paths[0].Counters) {
		t.Error("counters changed in a JSON round trip")
	}
}

func TestLimits(t *testing.T) {
	s := New(newClock().Now)
	s.SetLimits(Limits{MaxProbes: 1, MaxPathsPerProbe: 1})
	if _, err := s.TryRegister(probeInfo("sql01", "sql", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryRegister(probeInfo("sql02", "sql", 1)); err == nil {
		t.Error("a second probe was registered beyond max_probes 1")
	}
	a, b := res(1), res(2)
	b.Target = "another"
	st, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if st.Counted != 1 || st.Rejected != 1 || st.ReceivedSeq != 2 {
		t.Errorf("second path beyond max_paths_per_probe 1: %+v; want 1 counted, 1 rejected, cursor 2", st)
	}
}

// TestDroppedAcrossEpochs: a probe restarted without a spool reports its drops
// from 0 again; the coordinator's total keeps growing.
func TestDroppedAcrossEpochs(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	s.Ingest("sql01", 1, 5, nil)
	s.Register(probeInfo("sql01", "sql", 2))
	s.Ingest("sql01", 2, 3, nil)
	if d := onlyProbe(t, s).DroppedTotal; d != 8 {
		t.Errorf("dropped over two epochs (5 then 3): got %d, want 8", d)
	}
}

// TestCheckpointRestoreValidates: a checkpoint (damaged, hand-edited, or
// written before today's rules) is validated like Register and Ingest: a path
// of kind 99 or with a 5,000-character target, a probe with a bad name and
// its paths, and a probe whose cursor is 2^64-1 are left out and counted; the rest is restored. Before, they were
// restored and exported.
func TestCheckpointRestoreValidates(t *testing.T) {
	clk := newClock()
	s := New(clk.Now)
	s.Register(probeInfo("sql01", "sql", 7))
	if _, err := s.Ingest("sql01", 7, 0, seqs(1, 2)); err != nil {
		t.Fatal(err)
	}
	cp, _ := s.Checkpoint(true)
	good := cp.Paths[0]
	kind99, longTarget, badSource := good, good, good
	kind99.Kind = 99
	longTarget.Target = strings.Repeat("t", 5000)
	badSource.Source = "bad name"
	cp.Paths = append(cp.Paths, kind99, longTarget, badSource)
	badProbe := cp.Probes[0]
	badProbe.Name, badProbe.Site = "evil\nprobe", "sql"
	cp.Probes = append(cp.Probes, badProbe)
	orphan := good
	orphan.Source = "evil\nprobe"
	cp.Paths = append(cp.Paths, orphan)
	wrapped := cp.Probes[0]
	wrapped.Name, wrapped.Seq = "sql02", math.MaxUint64
	cp.Probes = append(cp.Probes, wrapped)
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var back Checkpoint
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}

	r := New(clk.Now)
	d, err := r.Restore(&back)
	if err != nil {
		t.Fatal(err)
	}
	if d.Probes != 2 || d.Paths != 4 || d.First == nil {
		t.Errorf("dropped %+v, want 2 probes and 4 paths, with a reason", d)
	}
	snap := r.Snapshot(time.Minute)
	if len(snap.Probes) != 1 || snap.Probes[0].Info.GetName() != "sql01" {
		t.Errorf("probes restored: %v, want sql01 only", snap.Probes)
	}
	if len(snap.Paths) != 1 || snap.Paths[0].Key != good.Key {
		t.Errorf("paths restored: %d, want the one valid path", len(snap.Paths))
	}
}
