package report

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"
)

// failingFile fails writes part-way, as a full disk does, while failing is set.
type failingFile struct {
	segFile
	failing       bool
	failTruncates bool
}

func (f *failingFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.failing {
		return f.segFile.WriteAt(p, off)
	}
	n, _ := f.segFile.WriteAt(p[:len(p)/2], off)
	return n, fmt.Errorf("write seg: %w", syscall.ENOSPC)
}

func (f *failingFile) Truncate(size int64) error {
	if f.failTruncates {
		return errors.New("truncate: input/output error")
	}
	return f.segFile.Truncate(size)
}

// TestSpoolWriteErrorTruncates: writes that fail part-way (a full disk) leave no
// half record, whether the cut succeeds at once or only at the next write; the
// failures are counted each, logged once, and the recovery once.
func TestSpoolWriteErrorTruncates(t *testing.T) {
	for _, failTruncates := range []bool{false, true} {
		t.Run(fmt.Sprintf("truncate_fails=%v", failTruncates), func(t *testing.T) {
			dir := t.TempDir()
			b, logs := openLogged(t, 100, dir)
			recordN(b, 3)
			ff := &failingFile{segFile: b.spool.active, failing: true, failTruncates: failTruncates}
			b.spool.active = ff
			recordN(b, 5) // seq 4..8: in memory only
			ff.failing, ff.failTruncates = false, false
			recordN(b, 3) // seq 9..11
			if n := b.SpoolErrors(); n != 5 {
				t.Errorf("spool errors: got %d, want 5", n)
			}
			if f, w := logs.count("spool write failed"), logs.count("spool writable again"); f != 1 || w != 1 {
				t.Errorf("log lines: %d failed, %d writable again, want 1 each:\n%s", f, w, logs)
			}
			if got := spooledSeqs(b.Since(0, 100)); !slices.Equal(got, seqRange(1, 11)) {
				t.Errorf("in memory: got %v, want 1..11", got)
			}
			b.Close()
			b2, logs2 := openLogged(t, 100, dir)
			defer b2.Close()
			if got, want := spooledSeqs(b2.Since(0, 100)), seqRange(1, 11, 4, 5, 6, 7, 8); !slices.Equal(got, want) {
				t.Errorf("after restart: got %v, want %v", got, want)
			}
			if b2.SpoolDamaged() != 0 || logs2.count("spool damaged") != 0 {
				t.Errorf("a half record was left on disk:\n%s", logs2)
			}
			b2.Record(result("mi1"))
			if s := b2.LastSeq(); s != 12 {
				t.Errorf("next seq: got %d, want 12", s)
			}
		})
	}
}

// writeV1Spool writes a spool in the first release's format: records 1..n.
func writeV1Spool(t *testing.T, dir string, epoch uint64, n int) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, metaFile), fmt.Appendf(nil, `{"epoch":%d,"dropped":2}`, epoch), 0o600); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for s := 1; s <= n; s++ {
		r := result("mi1")
		r.Seq = uint64(s)
		payload, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		data = binary.LittleEndian.AppendUint32(data, uint32(len(payload)))
		data = binary.LittleEndian.AppendUint32(data, crc32.Checksum(payload, castagnoli))
		data = append(data, payload...)
	}
	p := filepath.Join(dir, fmt.Sprintf("seg-%020d.log", 1))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSpoolOldFormatRead: a spool of the previous release is read, continues
// its epoch and numbering, and is rewritten in format 2 (logged).
func TestSpoolOldFormatRead(t *testing.T) {
	dir := t.TempDir()
	seg := writeV1Spool(t, dir, 77, 5)
	b, logs := openLogged(t, 100, dir)
	if got := spooledSeqs(b.Since(0, 100)); !slices.Equal(got, seqRange(1, 5)) || b.Epoch() != 77 || b.Dropped() != 2 {
		t.Errorf("got seqs %v epoch %d dropped %d, want 1..5, 77, 2", got, b.Epoch(), b.Dropped())
	}
	if !strings.Contains(logs.String(), "previous format") || b.SpoolDamaged() != 0 {
		t.Errorf("want the conversion logged and no damage:\n%s", logs)
	}
	b.Record(result("mi1"))
	b.Close()
	if got := len(recordOffsets(t, seg)); got != 6 {
		t.Errorf("rewritten segment holds %d records, want 6", got)
	}
}

// TestSpoolDamagedHeader: a flipped byte in a segment's header loses nothing.
func TestSpoolDamagedHeader(t *testing.T) {
	dir := t.TempDir()
	b := open(t, 100, dir)
	recordN(b, 4)
	b.Close()
	flip(t, segments(t, dir)[0], 2)
	b2, logs := openLogged(t, 100, dir)
	defer b2.Close()
	if got := spooledSeqs(b2.Since(0, 100)); !slices.Equal(got, seqRange(1, 4)) || b2.SpoolDamaged() != 0 {
		t.Errorf("got %v damaged %d, want 1..4 and 0 records lost:\n%s", got, b2.SpoolDamaged(), logs)
	}
	if logs.count("spool damaged") != 1 {
		t.Errorf("the damaged header was not logged:\n%s", logs)
	}
}

// FuzzReadSegment: whatever a segment file holds, reading it neither panics nor
// returns results out of order, and accounts for no more bytes than the file
// has.
func FuzzReadSegment(f *testing.F) {
	seg := append([]byte(nil), segHeader...)
	for s := uint64(1); s <= 4; s++ {
		r := result("mi1")
		r.Seq = s
		rec, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		seg = append(seg, rec...)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add(seg[8:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "seg-00000000000000000001.log")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rd, err := readSegmentFile(p, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last uint64
		for _, r := range rd.results {
			if r.GetSeq() <= last {
				t.Fatalf("seq %d after %d", r.GetSeq(), last)
			}
			last = r.GetSeq()
		}
		var damaged int64
		for _, d := range rd.damage {
			damaged += d.bytes
		}
		if damaged > int64(len(data)) {
			t.Fatalf("%d damaged bytes in a %d-byte file", damaged, len(data))
		}
	})
}
