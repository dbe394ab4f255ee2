package report

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// The spool keeps a Buffer's results on disk so a probe restart (kill -9
// included) loses none that no coordinator has acked, and numbers on from where
// it stopped in the same epoch.
//
// Layout of the directory:
//
//	meta.json            {"epoch": E, "dropped": D}: written on creation and, when
//	                     the drop count changed, at most once a second
//	seg-<first seq>.log  append-only segments of records; the newest one is active
//
// A record is a little-endian uint32 length, a CRC-32C of the payload, and the
// payload: the Result in protobuf wire form. Reading stops at the first short
// or corrupt record of a segment (a write cut short by a crash) and the active
// segment is truncated there. Records are written at once (a kill -9 loses
// nothing written) and fsynced at most once a second (a power cut loses at most
// the last second).
const (
	segRecords   = 4096
	syncEvery    = time.Second
	maxRecordLen = 1 << 20
	metaFile     = "meta.json"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type spool struct {
	dir      string
	meta     spoolMeta
	metaDisk uint64 // dropped count last written to meta.json
	segs     []segment
	active   *os.File
	count    int // records in the active segment
	lastSync time.Time
	dirty    bool
}

type spoolMeta struct {
	Epoch   uint64 `json:"epoch"`
	Dropped uint64 `json:"dropped"`
}

type segment struct {
	first uint64 // from the file name
	last  uint64 // highest seq in it (first-1 when empty)
	path  string
}

// openSpool opens (or creates) a spool and returns the results it holds, in
// order, and the next sequence number.
func openSpool(dir string) (*spool, []*linkmeshv1.Result, uint64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, 0, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, metaFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.meta.Epoch = binary.BigEndian.Uint64(b[:]) | 1
		if err := s.writeMeta(); err != nil {
			return nil, nil, 0, err
		}
	case err != nil:
		return nil, nil, 0, fmt.Errorf("spool: %w", err)
	default:
		if err := json.Unmarshal(data, &s.meta); err != nil || s.meta.Epoch == 0 {
			return nil, nil, 0, fmt.Errorf("spool %s: %s is damaged; move the directory away to start a new epoch", dir, metaFile)
		}
	}
	s.metaDisk = s.meta.Dropped
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "seg-")
		n, ok2 := strings.CutSuffix(n, ".log")
		first, err := strconv.ParseUint(n, 10, 64)
		if ok && ok2 && err == nil && first > 0 {
			s.segs = append(s.segs, segment{first: first, last: first - 1, path: filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(s.segs, func(a, b segment) int { return compareU64(a.first, b.first) })
	var results []*linkmeshv1.Result
	next := uint64(1)
	for i := range s.segs {
		seg := &s.segs[i]
		rs, good, err := readSegment(seg.path)
		if err != nil {
			return nil, nil, 0, err
		}
		for _, r := range rs {
			if r.GetSeq() >= next { // never go backwards, whatever is on disk
				results = append(results, r)
				next = r.GetSeq() + 1
				seg.last = r.GetSeq()
			}
		}
		next = max(next, seg.first)
		if i == len(s.segs)-1 {
			if err := s.reopen(seg, good, len(rs)); err != nil {
				return nil, nil, 0, err
			}
		}
	}
	if s.active == nil {
		if err := s.rotate(next); err != nil {
			return nil, nil, 0, err
		}
	}
	return s, results, next, nil
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readSegment returns a segment's intact records and the length they span.
func readSegment(path string) ([]*linkmeshv1.Result, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []*linkmeshv1.Result
	var good int64
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return out, good, nil
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > maxRecordLen {
			return out, good, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return out, good, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return out, good, nil
		}
		res := &linkmeshv1.Result{}
		if err := proto.Unmarshal(payload, res); err != nil || res.GetSeq() == 0 {
			return out, good, nil
		}
		out = append(out, res)
		good += int64(8 + n)
	}
}

// reopen makes seg the active segment, cutting off a torn tail.
func (s *spool) reopen(seg *segment, good int64, count int) error {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return fmt.Errorf("spool: truncate %s: %w", seg.path, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.active, s.count = f, count
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
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.active, s.count = f, 0
	s.segs = append(s.segs, segment{first: next, last: next - 1, path: p})
	return nil
}

// append writes r to the active segment.
func (s *spool) append(r *linkmeshv1.Result) error {
	if s.count >= segRecords {
		if err := s.rotate(r.GetSeq()); err != nil {
			return err
		}
	}
	payload, err := proto.Marshal(r)
	if err != nil {
		return fmt.Errorf("spool: encode: %w", err)
	}
	buf := make([]byte, 8+len(payload))
	binary.LittleEndian.PutUint32(buf[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:8], crc32.Checksum(payload, castagnoli))
	copy(buf[8:], payload)
	if _, err := s.active.Write(buf); err != nil {
		return fmt.Errorf("spool: write: %w", err)
	}
	s.count++
	s.segs[len(s.segs)-1].last = r.GetSeq()
	s.dirty = true
	return s.maybeSync(false)
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
	if s.meta.Dropped != s.metaDisk {
		return s.writeMeta()
	}
	return nil
}

func (s *spool) writeMeta() error {
	data, _ := json.Marshal(s.meta)
	tmp := filepath.Join(s.dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, metaFile)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.metaDisk = s.meta.Dropped
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
	err := s.maybeSync(true)
	if cerr := s.active.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("spool: %w", cerr)
	}
	return err
}
