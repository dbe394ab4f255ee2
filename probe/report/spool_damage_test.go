package report

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// logSink collects a buffer's log lines.
type logSink struct{ bytes.Buffer }

func (l *logSink) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&l.Buffer, nil)) }

func (l *logSink) count(s string) int { return strings.Count(l.String(), s) }

func openLogged(t *testing.T, capacity int, dir string) (*Buffer, *logSink) {
	t.Helper()
	var l logSink
	b, err := OpenBuffer(capacity, dir, l.logger())
	if err != nil {
		t.Fatal(err)
	}
	return b, &l
}

// recordOffsets returns where each record of a version-2 segment starts.
func recordOffsets(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, segHeader) {
		t.Fatalf("%s: no format-2 header", path)
	}
	var offs []int
	for off := len(segHeader); off < len(data); {
		_, n, ok := decodeRecord(data[off:], 0)
		if !ok {
			t.Fatalf("%s: no record at %d", path, off)
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// flip inverts one byte of the file.
func flip(t *testing.T, path string, off int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func seqRange(from, to uint64, skip ...uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		if !slices.Contains(skip, s) {
			out = append(out, s)
		}
	}
	return out
}

func recordN(b *Buffer, n int) {
	for range n {
		b.Record(result("mi1"))
	}
}

// TestSpoolFlippedByteActiveSegment: a flipped byte in the middle of the active
// segment loses that record only: it is logged once with its sequence number,
// counted, the records after it are kept, and numbering goes on after the
// highest (before: everything after it was cut, silently, and numbering went
// back to 5, below what the coordinator had counted).
func TestSpoolFlippedByteActiveSegment(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 100, dir)
	recordN(b, 10)
	b.Close()
	seg := segments(t, dir)[0]
	flip(t, seg, recordOffsets(t, seg)[4]+recordHeaderLen+3) // in seq 5's payload

	b2, logs := openLogged(t, 100, dir)
	if got, want := spooledSeqs(b2.Since(0, 100)), seqRange(1, 10, 5); !slices.Equal(got, want) {
		t.Errorf("restored: got %v, want %v", got, want)
	}
	if d := b2.SpoolDamaged(); d != 1 {
		t.Errorf("damaged records: got %d, want 1", d)
	}
	if n := logs.count("spool damaged"); n != 1 || !strings.Contains(logs.String(), "seq 5-5") {
		t.Errorf("want one damage line naming seq 5, got %d:\n%s", n, logs)
	}
	b2.Record(result("mi1"))
	if s := b2.LastSeq(); s != 11 {
		t.Errorf("next seq: got %d, want 11", s)
	}
	b2.Close()

	b3, logs3 := openLogged(t, 100, dir)
	defer b3.Close()
	if logs3.count("spool damaged") != 0 || b3.SpoolDamaged() != 0 {
		t.Errorf("the damage was reported again after the segment was rewritten:\n%s", logs3)
	}
	if got, want := spooledSeqs(b3.Since(0, 100)), seqRange(1, 11, 5); !slices.Equal(got, want) {
		t.Errorf("after a second restart: got %v, want %v", got, want)
	}
}

// TestSpoolFlippedByteOlderSegment: damage in a closed segment (in the middle,
// and its last record, whose loss the next segment's name bounds) is logged and
// counted, and nothing else is lost.
func TestSpoolFlippedByteOlderSegment(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  int // index in the first segment
		want string
	}{
		{"middle", 99, "seq 100-100"},
		{"last", segRecords - 1, fmt.Sprintf("seq %d-%d", segRecords, segRecords)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := open(t, 2*segRecords, dir)
			recordN(b, segRecords+10)
			b.Close()
			segs := segments(t, dir)
			if len(segs) != 2 {
				t.Fatalf("segments: %v", segs)
			}
			flip(t, segs[0], recordOffsets(t, segs[0])[tc.rec]+recordHeaderLen+1)
			b2, logs := openLogged(t, 2*segRecords, dir)
			defer b2.Close()
			lost := uint64(tc.rec + 1)
			if got, want := spooledSeqs(b2.Since(0, 2*segRecords)), seqRange(1, segRecords+10, lost); !slices.Equal(got, want) {
				t.Errorf("restored %d results (first %v), want %d without %d", len(got), got[:min(5, len(got))], len(want), lost)
			}
			if d := b2.SpoolDamaged(); d != 1 {
				t.Errorf("damaged records: got %d, want 1", d)
			}
			if logs.count("spool damaged") != 1 || !strings.Contains(logs.String(), tc.want) {
				t.Errorf("want one damage line naming %s:\n%s", tc.want, logs)
			}
			b2.Record(result("mi1"))
			if s := b2.LastSeq(); s != segRecords+11 {
				t.Errorf("next seq: got %d, want %d", s, segRecords+11)
			}
		})
	}
}

// TestSpoolTornWrite: a record cut short at the end of the spool (a crash or a
// full disk mid-write) is logged and counted; as the last numbers used are then
// unknown, numbering goes on above the fence kept in meta.json, never below
// anything a coordinator may have counted.
func TestSpoolTornWrite(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 100, dir)
	recordN(b, 5)
	b.Close()
	seg := segments(t, dir)[0]
	fi, _ := os.Stat(seg)
	if err := os.Truncate(seg, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	b2, logs := openLogged(t, 100, dir)
	if got, want := spooledSeqs(b2.Since(0, 100)), seqRange(1, 4); !slices.Equal(got, want) {
		t.Errorf("after a torn 5th record: got %v, want %v", got, want)
	}
	if d := b2.SpoolDamaged(); d != 1 {
		t.Errorf("damaged records: got %d, want 1", d)
	}
	if logs.count("spool damaged") != 1 || !strings.Contains(logs.String(), "seq 5 and after") || !strings.Contains(logs.String(), "skipped_seqs=") {
		t.Errorf("want one damage line naming seq 5 and after, and the skip:\n%s", logs)
	}
	b2.Record(result("mi1"))
	if s := b2.LastSeq(); s != fenceStep+1 {
		t.Errorf("next seq: got %d, want %d (above the fence)", s, fenceStep+1)
	}
	b2.Close()
	b3, logs3 := openLogged(t, 100, dir)
	defer b3.Close()
	if got, want := spooledSeqs(b3.Since(0, 100)), append(seqRange(1, 4), fenceStep+1); !slices.Equal(got, want) || logs3.count("spool damaged") != 0 {
		t.Errorf("after one more record and a restart: got %v, want %v, no damage logged:\n%s", got, want, logs3)
	}
}

// TestSpoolTornWriteMidSegment: a half record followed by more records (what
// the previous release left after a full disk) loses only that record.
func TestSpoolTornWriteMidSegment(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 100, dir)
	b.Close()
	data := append([]byte(nil), segHeader...)
	for s := uint64(1); s <= 8; s++ {
		r := result("mi1")
		r.Seq = s
		rec, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if s == 5 {
			rec = rec[:len(rec)/2]
		}
		data = append(data, rec...)
	}
	if err := os.WriteFile(segments(t, dir)[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	b2, logs := openLogged(t, 100, dir)
	defer b2.Close()
	if got, want := spooledSeqs(b2.Since(0, 100)), seqRange(1, 8, 5); !slices.Equal(got, want) {
		t.Errorf("restored: got %v, want %v", got, want)
	}
	if b2.SpoolDamaged() != 1 || !strings.Contains(logs.String(), "seq 5-5") {
		t.Errorf("damaged %d, want 1 logged as seq 5-5:\n%s", b2.SpoolDamaged(), logs)
	}
	b2.Record(result("mi1"))
	if s := b2.LastSeq(); s != 9 {
		t.Errorf("next seq: got %d, want 9", s)
	}
}

// TestSpoolDamageNewEpoch: when damage reaches the end of a previous-release
// spool (which kept no fence), the intact results go on in a new epoch, so the
// coordinator takes the new numbering rather than skipping it as a replay.
func TestSpoolDamageNewEpoch(t *testing.T) {
	dir := t.TempDir()
	seg := writeV1Spool(t, dir, 77, 5)
	data, _ := os.ReadFile(seg)
	flip(t, seg, len(data)*3/4) // in record 4
	b, logs := openLogged(t, 100, dir)
	defer b.Close()
	if b.Epoch() == 77 || b.Epoch() == 0 {
		t.Errorf("epoch: got %d, want a new one", b.Epoch())
	}
	if got := spooledSeqs(b.Since(0, 100)); !slices.Equal(got, seqRange(1, 3)) {
		t.Errorf("restored: got %v, want 1..3 renumbered", got)
	}
	if b.SpoolDamaged() < 1 || logs.count("spool damaged") != 1 || !strings.Contains(logs.String(), "new epoch") || !strings.Contains(logs.String(), "old_epoch=77") {
		t.Errorf("damaged %d; want it counted and one line naming the new epoch:\n%s", b.SpoolDamaged(), logs)
	}
	b.Record(result("mi1"))
	if s := b.LastSeq(); s != 4 {
		t.Errorf("next seq: got %d, want 4", s)
	}
}
