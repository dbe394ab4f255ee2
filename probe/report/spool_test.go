package report

import (
	"os"
	"path/filepath"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

func result(target string) *linkmeshv1.Result {
	return &linkmeshv1.Result{Target: target, TargetSite: "mi", Kind: linkmeshv1.Kind_KIND_TCP, Port: 5022, Code: linkmeshv1.Code_CODE_OK}
}

func spooledSeqs(rs []*linkmeshv1.Result) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.GetSeq()
	}
	return out
}

func open(t *testing.T, capacity int, dir string) *Buffer {
	t.Helper()
	b, err := OpenBuffer(capacity, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSpoolSurvivesRestart: results not acked by every consumer come back after
// the buffer is abandoned without Close (as after kill -9), in order, with the
// same epoch, and numbering continues.
func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 100, dir)
	epoch := b.Epoch()
	if epoch == 0 {
		t.Fatal("a spooled buffer has no epoch")
	}
	b.Join("a", 0)
	b.Join("b", 0)
	for range 10 {
		b.Record(result("mi1"))
	}
	b.Ack("a", 10)
	b.Ack("b", 4) // 5..10 are still unacked by b
	// no Close: the process "dies" here

	b2 := open(t, 100, dir)
	if b2.Epoch() != epoch {
		t.Errorf("epoch after restart: got %d, want %d", b2.Epoch(), epoch)
	}
	got := spooledSeqs(b2.Since(0, 100))
	if len(got) == 0 || got[0] > 5 || got[len(got)-1] != 10 {
		t.Errorf("restored seqs %v: want every seq from at most 5 through 10", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Errorf("restored seqs %v are not consecutive", got)
		}
	}
	b2.Record(result("mi1"))
	if s := b2.LastSeq(); s != 11 {
		t.Errorf("next seq after restart: got %d, want 11", s)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSpoolReleasesAndCountsDrops: acked segments are deleted; when the bound is
// hit the oldest are dropped, counted, and the count survives a restart.
func TestSpoolReleasesAndCountsDrops(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 10, dir)
	b.Join("a", 0)
	for range 2*segRecords + 5 {
		b.Record(result("mi1"))
	}
	if d := b.Dropped(); d != 2*segRecords+5-10 {
		t.Errorf("dropped: got %d, want %d", d, 2*segRecords+5-10)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) > 2 {
		t.Errorf("%d segments kept for 10 results: %v", len(segs), segs)
	}
	b.Ack("a", b.LastSeq())
	if b.Len() != 0 {
		t.Errorf("len after ack of everything: %d", b.Len())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := open(t, 10, dir)
	if d := b2.Dropped(); d != 2*segRecords+5-10 {
		t.Errorf("dropped after restart: got %d, want %d", d, 2*segRecords+5-10)
	}
	b2.Join("a", 2*segRecords+5)
	if n := b2.Len(); n != 0 {
		t.Errorf("after the coordinator says it has everything: %d results held", n)
	}
	b2.Record(result("mi1"))
	if s := b2.LastSeq(); s != 2*segRecords+6 {
		t.Errorf("next seq: got %d, want %d", s, 2*segRecords+6)
	}
	b2.Close()
}

// TestSpoolRefusesDamagedMeta: a damaged meta.json is an error naming what to do.
func TestSpoolRefusesDamagedMeta(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBuffer(10, dir, nil); err == nil {
		t.Fatal("a damaged meta.json was accepted")
	}
}

func BenchmarkSpoolRecord(b *testing.B) {
	buf, err := OpenBuffer(100000, b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	buf.Join("a", 0)
	for i := 0; b.Loop(); i++ {
		buf.Record(result("mi1"))
		if i%100 == 99 {
			buf.Ack("a", buf.LastSeq())
		}
	}
}
