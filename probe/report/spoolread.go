package report

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// Record format, version 2 (see spool.go for the layout of the directory).
//
// A segment starts with segHeader. Each record is
//
//	magic (4 bytes) | length (uint32 LE) | CRC-32C of length and payload (uint32 LE) | payload
//
// The magic lets a reader find the next record after a damaged one: it scans
// for the magic and accepts a candidate only if its length is in bounds, its
// checksum matches, the payload decodes and its sequence number is above the
// last good one. A version-1 segment (no header; records of length, CRC-32C of
// the payload, payload) is read up to its first bad record and rewritten in
// version 2.
var (
	segHeader   = []byte("LMSPOOL2")
	recordMagic = []byte{0xf1, 0x5b, 0x0c, 0xa7}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
)

const recordHeaderLen = 12

// encodeRecord returns r as one version-2 record.
func encodeRecord(r *linkmeshv1.Result) ([]byte, error) {
	payload, err := proto.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("spool: encode: %w", err)
	}
	buf := make([]byte, recordHeaderLen+len(payload))
	copy(buf, recordMagic)
	binary.LittleEndian.PutUint32(buf[4:8], uint32(len(payload)))
	copy(buf[recordHeaderLen:], payload)
	crc := crc32.Update(crc32.Checksum(buf[4:8], castagnoli), castagnoli, payload)
	binary.LittleEndian.PutUint32(buf[8:12], crc)
	return buf, nil
}

// decodeRecord decodes the version-2 record at the start of b, if it is intact
// and numbered above last. It returns the record's length in bytes.
func decodeRecord(b []byte, last uint64) (*linkmeshv1.Result, int, bool) {
	if len(b) < recordHeaderLen || !bytes.Equal(b[:4], recordMagic) {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b[4:8])
	if n == 0 || n > maxRecordLen || int(n) > len(b)-recordHeaderLen {
		return nil, 0, false
	}
	payload := b[recordHeaderLen : recordHeaderLen+int(n)]
	if crc32.Update(crc32.Checksum(b[4:8], castagnoli), castagnoli, payload) != binary.LittleEndian.Uint32(b[8:12]) {
		return nil, 0, false
	}
	r := &linkmeshv1.Result{}
	if err := proto.Unmarshal(payload, r); err != nil || r.GetSeq() <= last {
		return nil, 0, false
	}
	return r, recordHeaderLen + int(n), true
}

// damage is one stretch of a segment that holds no intact record.
type damage struct {
	seg     string // file name
	off     int64  // where it starts in the file
	bytes   int64
	records uint64 // records lost: exact when the sequence numbers around it are known, else estimated
	after   uint64 // last intact sequence number before it (0: none known)
	before  uint64 // first intact sequence number after it (0: none; the damage runs to the end)
}

func (d damage) String() string {
	rng := "unknown sequence numbers"
	switch {
	case d.before > d.after+1:
		rng = fmt.Sprintf("seq %d-%d", d.after+1, d.before-1)
	case d.before == 0:
		rng = fmt.Sprintf("seq %d and after", d.after+1)
	}
	return fmt.Sprintf("%s at byte %d: %d bytes, %d records, %s", d.seg, d.off, d.bytes, d.records, rng)
}

// segRead is what a segment file holds.
type segRead struct {
	results []*linkmeshv1.Result
	damage  []damage
	v1      bool
}

// readSegmentFile reads a segment whose file name says its first sequence
// number is first, recovering every intact record and describing the rest.
func readSegmentFile(path string, first uint64) (segRead, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return segRead{}, fmt.Errorf("spool: %w", err)
	}
	name := filepath.Base(path)
	switch {
	case len(data) == 0, bytes.Equal(data, segHeader[:min(len(data), len(segHeader))]) && len(data) < len(segHeader):
		return segRead{}, nil // created, header not (fully) written: empty
	case bytes.HasPrefix(data, segHeader):
		return readV2(data, len(segHeader), first, name), nil
	default:
		v1 := readV1(data, first, name)
		if len(v1.results) == 0 && len(data) > len(segHeader) {
			// Perhaps a version-2 segment whose header is damaged.
			if v2 := readV2(data, len(segHeader), first, name); len(v2.results) > 0 {
				v2.damage = append([]damage{{seg: name, bytes: int64(len(segHeader)), after: first - 1, before: v2.results[0].GetSeq()}}, v2.damage...)
				return v2, nil
			}
		}
		return v1, nil
	}
}

func readV2(data []byte, off int, first uint64, name string) segRead {
	var out segRead
	last := first - 1
	for off < len(data) {
		if r, n, ok := decodeRecord(data[off:], last); ok {
			out.results = append(out.results, r)
			last = r.GetSeq()
			off += n
			continue
		}
		// Damage: find the next intact record after it.
		d := damage{seg: name, off: int64(off), after: last}
		next, r := resync(data, off+1, last)
		d.bytes = int64(next - off)
		d.records = max(1, uint64(bytes.Count(data[off:next], recordMagic)))
		if r != nil {
			d.before = r.GetSeq()
			// Exact: the numbers in between are missing (0 when only stray
			// bytes sat between two consecutive records).
			d.records = d.before - last - 1
		}
		out.damage = append(out.damage, d)
		off = next
	}
	return out
}

// resync returns the offset of the first intact record at or after from that is
// numbered above last, and that record; or len(data) and nil.
func resync(data []byte, from int, last uint64) (int, *linkmeshv1.Result) {
	for from < len(data) {
		i := bytes.Index(data[from:], recordMagic)
		if i < 0 {
			break
		}
		if r, _, ok := decodeRecord(data[from+i:], last); ok {
			return from + i, r
		}
		from += i + 1
	}
	return len(data), nil
}

// readV1 reads a segment of the first release's format up to its first bad
// record; what follows is damage of unknown extent.
func readV1(data []byte, first uint64, name string) segRead {
	out := segRead{v1: true}
	last := first - 1
	off := 0
	for len(data)-off >= 8 {
		n := binary.LittleEndian.Uint32(data[off : off+4])
		if n == 0 || n > maxRecordLen || int(n) > len(data)-off-8 {
			break
		}
		payload := data[off+8 : off+8+int(n)]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[off+4:off+8]) {
			break
		}
		r := &linkmeshv1.Result{}
		if err := proto.Unmarshal(payload, r); err != nil || r.GetSeq() <= last {
			break
		}
		out.results = append(out.results, r)
		last = r.GetSeq()
		off += 8 + int(n)
	}
	if off < len(data) {
		rest := int64(len(data) - off)
		avg := int64(120)
		if len(out.results) > 0 {
			avg = max(1, int64(off)/int64(len(out.results)))
		}
		out.damage = append(out.damage, damage{seg: name, off: int64(off), bytes: rest, records: uint64((rest + avg - 1) / avg), after: last})
	}
	return out
}

// rewriteSegment replaces a segment with a clean version-2 copy of rs, so damage
// is reported once and an old segment is read in the new format from now on.
func rewriteSegment(path string, rs []*linkmeshv1.Result) error {
	buf := append([]byte(nil), segHeader...)
	for _, r := range rs {
		rec, err := encodeRecord(r)
		if err != nil {
			return err
		}
		buf = append(buf, rec...)
	}
	return writeFileSync(path, buf)
}

// writeFileSync writes data to path through a synced temporary file and a rename.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("spool: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
