package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// openSpool opens (or creates) a spool and returns what it holds.
func openSpool(dir string) (*spool, spoolOpened, error) {
	var op spoolOpened
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, op, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir}
	if err := s.readMeta(); err != nil {
		return nil, op, err
	}
	if err := s.findSegments(); err != nil {
		return nil, op, err
	}
	tailDamaged, lastCount, err := s.readSegments(&op)
	if err != nil {
		return nil, op, err
	}
	switch {
	case tailDamaged && s.meta.Version < metaVersion:
		// The first release kept no fence: nothing says which numbers the lost
		// end used, so the intact results go on in a new epoch.
		if err := s.newEpoch(&op); err != nil {
			return nil, op, err
		}
		return s, op, nil
	case tailDamaged:
		if s.meta.Fence >= op.next {
			op.skipped = s.meta.Fence + 1 - op.next
			op.next = s.meta.Fence + 1
		}
	}
	if s.meta.Version < metaVersion || s.meta.Fence < op.next-1 {
		s.meta.Version, s.meta.Fence = metaVersion, max(s.meta.Fence, op.next-1)
		if err := s.writeMeta(); err != nil {
			return nil, op, err
		}
	}
	if n := len(s.segs); n > 0 {
		if err := s.reopen(s.segs[n-1].path, lastCount); err != nil {
			return nil, op, err
		}
	} else if err := s.rotate(op.next); err != nil {
		return nil, op, err
	}
	return s, op, nil
}

// readMeta reads the spool's meta file, or writes a new one with a new epoch.
func (s *spool) readMeta() error {
	data, err := os.ReadFile(filepath.Join(s.dir, metaFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.meta = spoolMeta{Version: metaVersion, Epoch: newSpoolEpoch()}
		return s.writeMeta()
	case err != nil:
		return fmt.Errorf("spool: %w", err)
	}
	if err := json.Unmarshal(data, &s.meta); err != nil || s.meta.Epoch == 0 {
		return fmt.Errorf("spool %s: %s is damaged; move the directory away to start a new epoch", s.dir, metaFile)
	}
	s.metaDisk = s.meta
	return nil
}

// readSegments reads every segment into op, oldest first, never going back
// in sequence numbers, and rewrites the segments that were damaged or of the
// first release's format. It reports whether the newest segment's end was
// damaged, and how many records the newest segment holds.
func (s *spool) readSegments(op *spoolOpened) (tailDamaged bool, lastCount int, err error) {
	op.next = 1
	for i := range s.segs {
		seg := &s.segs[i]
		rd, err := readSegmentFile(seg.path, seg.first)
		if err != nil {
			return false, 0, err
		}
		lastCount = 0
		for _, r := range rd.results {
			if r.GetSeq() >= op.next { // never go backwards, whatever is on disk
				lastCount++
				op.results = append(op.results, r)
				op.next = r.GetSeq() + 1
				seg.last = r.GetSeq()
			}
		}
		op.next = max(op.next, seg.first)
		for _, d := range rd.damage {
			if d.before == 0 {
				if i+1 < len(s.segs) { // the next segment says where the numbers went on
					d.before, d.records = s.segs[i+1].first, 0
					if d.before > d.after+1 {
						d.records = d.before - d.after - 1
					}
				} else {
					tailDamaged = true
				}
			}
			op.damage = append(op.damage, d)
		}
		if rd.v1 || len(rd.damage) > 0 {
			if err := rewriteSegment(seg.path, rd.results); err != nil {
				return false, 0, err
			}
			if rd.v1 {
				op.converted++
			}
		}
	}
	return tailDamaged, lastCount, nil
}
