package report

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// The spool keeps a Buffer's results on disk so a probe restart (kill -9
// included) loses none that no coordinator has acked, and numbers on from where
// it stopped in the same epoch.
//
// Layout of the directory:
//
//	meta.json            {"version": 2, "epoch": E, "dropped": D, "fence": F}:
//	                     written on creation, before a sequence number above F
//	                     is used (F moves fenceStep ahead), and when the drop
//	                     count changed, at most once a second
//	seg-<first seq>.log  append-only segments of records; the newest one is active
//
// Records are checksummed one by one (see spoolread.go). At start every
// segment is read; a damaged stretch is logged once, counted, and skipped: the
// intact records after it are kept, and the segment is rewritten clean. The
// sequence numbers go on above the highest intact one; when the damage reaches
// the end of the newest segment (the last numbers used are unknown) they go on
// above the fence instead, so no number a coordinator may have counted is used
// again. A write error cuts the half-written record off at once. Records are
// written at once (a kill -9 loses nothing written) and fsynced at most once a
// second.
const (
	segRecords   = 4096
	syncEvery    = time.Second
	maxRecordLen = 1 << 20
	metaFile     = "meta.json"
	// fenceStep is how far ahead of the sequence the fence is kept: meta.json is
	// written once per fenceStep results, and after damage at the end of the
	// spool at most fenceStep-1 unused numbers are skipped.
	fenceStep   = 256
	metaVersion = 2
)

// segFile is what the spool needs of its active segment (an *os.File; tests
// wrap it to fail writes). The spool writes at offsets it keeps rather than
// with O_APPEND: on Windows a file opened for appending cannot be truncated,
// and a torn record must be cut off.
type segFile interface {
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

type spool struct {
	dir      string
	meta     spoolMeta
	metaDisk spoolMeta // as last written to meta.json
	segs     []segment
	active   segFile
	size     int64 // bytes of whole records (and header) in the active segment
	torn     bool  // a failed write may have left bytes past size
	count    int   // records in the active segment
	lastSync time.Time
	dirty    bool
}

type spoolMeta struct {
	Version int    `json:"version,omitempty"` // absent: the first release's format
	Epoch   uint64 `json:"epoch"`
	Dropped uint64 `json:"dropped"`
	// Fence is at or above every sequence number the epoch has used.
	Fence uint64 `json:"fence,omitempty"`
}

type segment struct {
	first uint64 // from the file name
	last  uint64 // highest seq in it (first-1 when empty)
	path  string
}

// spoolOpened tells the buffer what opening the spool found.
type spoolOpened struct {
	results   []*linkmeshv1.Result
	next      uint64
	damage    []damage
	converted int    // segments of the first release's format rewritten
	skipped   uint64 // sequence numbers skipped up to the fence after damage at the end
	oldEpoch  uint64 // the epoch left behind for a new one (0: none)
}

// findSegments lists the segment files in order.
func (s *spool) findSegments() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "seg-")
		n, ok2 := strings.CutSuffix(n, ".log")
		first, err := strconv.ParseUint(n, 10, 64)
		if ok && ok2 && err == nil && first > 0 {
			s.segs = append(s.segs, segment{first: first, last: first - 1, path: filepath.Join(s.dir, e.Name())})
		}
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return cmp.Compare(a.first, b.first) })
	return nil
}

// newEpoch starts a new epoch holding op's intact results, numbered from 1.
func (s *spool) newEpoch(op *spoolOpened) error {
	for _, seg := range s.segs {
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.segs = nil
	op.oldEpoch = s.meta.Epoch
	s.meta = spoolMeta{Version: metaVersion, Epoch: newSpoolEpoch()}
	for i, r := range op.results {
		r.Seq = uint64(i + 1)
	}
	op.next = uint64(len(op.results)) + 1
	if err := s.writeMeta(); err != nil {
		return err
	}
	if err := s.rotate(1); err != nil {
		return err
	}
	for _, r := range op.results {
		if err := s.append(r); err != nil {
			return err
		}
	}
	return nil
}

func newSpoolEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1
}

// reopen makes the segment at path (read, and rewritten if it was damaged, so
// it ends with a whole record) the active segment; it holds count records.
func (s *spool) reopen(path string, count int) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.active, s.size, s.count = f, fi.Size(), count
	if s.size < int64(len(segHeader)) { // created, header never written
		if err := f.Truncate(0); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := f.WriteAt(segHeader, 0); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
		s.size = int64(len(segHeader))
	}
	return nil
}

// rotate closes the active segment and starts seg-<next>.log.
func (s *spool) rotate(next uint64) error {
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.active.Close()
		s.active = nil
	}
	p := filepath.Join(s.dir, fmt.Sprintf("seg-%020d.log", next))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := f.WriteAt(segHeader, 0); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("spool: %w", err)
	}
	s.active, s.count, s.size, s.torn = f, 0, int64(len(segHeader)), false
	s.segs = append(s.segs, segment{first: next, last: next - 1, path: p})
	return nil
}

// append writes r to the active segment. A failed write is cut off at once, so
// the segment never keeps half a record.
func (s *spool) append(r *linkmeshv1.Result) error {
	if s.active == nil {
		if err := s.rotate(r.GetSeq()); err != nil {
			return err
		}
	}
	if s.torn {
		if err := s.active.Truncate(s.size); err != nil {
			return fmt.Errorf("spool: cut off a torn record: %w", err)
		}
		s.torn = false
	}
	if s.count >= segRecords {
		if err := s.rotate(r.GetSeq()); err != nil {
			return err
		}
	}
	var fenceErr error
	if r.GetSeq() > s.meta.Fence {
		// The fence goes to disk before the number is used: after damage at the
		// end of the spool, numbering goes on above it.
		old := s.meta.Fence
		s.meta.Fence = r.GetSeq() + fenceStep - 1
		if fenceErr = s.writeMeta(); fenceErr != nil {
			s.meta.Fence = old
		}
	}
	rec, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if _, err := s.active.WriteAt(rec, s.size); err != nil {
		if terr := s.active.Truncate(s.size); terr != nil {
			s.torn = true
		}
		return errors.Join(fenceErr, fmt.Errorf("spool: write: %w", err))
	}
	s.size += int64(len(rec))
	s.count++
	s.segs[len(s.segs)-1].last = r.GetSeq()
	s.dirty = true
	return errors.Join(fenceErr, s.maybeSync(false))
}

// maybeSync fsyncs the active segment (and rewrites meta.json when the drop count
// changed) when the last sync is a second old, or when force is set.
func (s *spool) maybeSync(force bool) error {
	now := time.Now()
	if !force && now.Sub(s.lastSync) < syncEvery {
		return nil
	}
	s.lastSync = now
	if s.dirty {
		s.dirty = false
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	if s.meta != s.metaDisk {
		return s.writeMeta()
	}
	return nil
}

func (s *spool) writeMeta() error {
	data, _ := json.Marshal(s.meta)
	if err := writeFileSync(filepath.Join(s.dir, metaFile), data); err != nil {
		return err
	}
	s.metaDisk = s.meta
	return nil
}

// release deletes closed segments whose every record is at or below through
// (acked by every coordinator, or dropped).
func (s *spool) release(through uint64) error {
	var err error
	keep := s.segs[:0]
	for i, seg := range s.segs {
		if i < len(s.segs)-1 && seg.last <= through {
			if rerr := os.Remove(seg.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = fmt.Errorf("spool: %w", rerr)
			}
			continue
		}
		keep = append(keep, seg)
	}
	s.segs = keep
	return err
}

// close syncs and closes the spool.
func (s *spool) close() error {
	if s.active == nil {
		return nil
	}
	err := s.maybeSync(true)
	if cerr := s.active.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("spool: %w", cerr)
	}
	return err
}
