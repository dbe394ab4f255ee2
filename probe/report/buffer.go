// Package report delivers a probe's results to its coordinators: a bounded buffer
// numbers every result and keeps it until every coordinator has acknowledged it
// (optionally mirrored in a disk spool that survives restarts), and one Client
// per coordinator registers, follows the plan stream and sends batches, paced
// when replaying a backlog and retrying with backoff while the coordinator is away.
package report

import (
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// Buffer holds results until every consumer (coordinator) has acknowledged them.
// When it is full the oldest results are dropped and counted, never silently.
// It is safe for concurrent use.
type Buffer struct {
	mu       sync.Mutex
	capacity int
	items    []*linkmeshv1.Result // increasing seq
	nextSeq  uint64
	dropped  uint64
	acked    map[string]uint64
	added    notify.Signal // notified on every Record

	spool        *spool // nil without a spool directory
	logger       *slog.Logger
	spoolErrors  uint64
	spoolDamaged uint64 // records found damaged when the spool was opened
	writeFailing bool   // the last spool write failed
	delFailing   bool   // the last deletion of released segments failed
}

// NewBuffer returns a buffer that holds at most capacity results in memory.
func NewBuffer(capacity int) *Buffer {
	if capacity < 1 {
		capacity = 1
	}
	return &Buffer{capacity: capacity, nextSeq: 1, acked: map[string]uint64{}}
}

// OpenBuffer returns a buffer that also keeps its results in the spool directory
// dir, restoring what a previous run left there: the unacked results, the epoch
// and the next sequence number, and the drop count. Damage found in the spool
// is logged once, counted (SpoolDamaged), and skipped: intact records after it
// are kept, and numbering goes on where no coordinator can have counted the
// numbers already (see spool.go). Spool write errors are logged once per change
// of state (failing, writable again) and counted; the buffer goes on in memory.
func OpenBuffer(capacity int, dir string, logger *slog.Logger) (*Buffer, error) {
	b := NewBuffer(capacity)
	sp, op, err := openSpool(dir)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b.spool, b.logger, b.nextSeq, b.dropped = sp, logger, op.next, sp.meta.Dropped
	b.spoolDamaged = logOpened(logger, dir, op)
	restored := op.results
	if n := len(restored) - b.capacity; n > 0 {
		// The buffer held at most the newest capacity results: anything older on
		// disk was dropped (and counted) or acked already.
		restored = restored[n:]
	}
	b.items = restored
	return b, nil
}

// Epoch is the spool's epoch (which continues across restarts), or 0 without a
// spool (the caller draws one).
func (b *Buffer) Epoch() uint64 {
	if b.spool == nil {
		return 0
	}
	return b.spool.meta.Epoch
}

// Close syncs and closes the spool, if any.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spool == nil {
		return nil
	}
	b.spool.meta.Dropped = b.dropped
	err := b.spool.close()
	b.spool = nil
	return err
}

// Record numbers r and appends it, dropping the oldest result when full.
func (b *Buffer) Record(r *linkmeshv1.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r.Seq = b.nextSeq
	b.nextSeq++
	if len(b.items) >= b.capacity {
		n := len(b.items) - b.capacity + 1
		clear(b.items[:n])
		b.items = b.items[n:]
		b.dropped += uint64(n)
	}
	b.items = append(b.items, r)
	if b.spool != nil {
		b.spool.meta.Dropped = b.dropped
		b.writeErr(b.spool.append(r))
		b.releaseLocked()
	}
	b.added.Notify()
}

// releaseLocked lets the spool delete what the buffer no longer holds.
func (b *Buffer) releaseLocked() {
	through := b.nextSeq - 1
	if len(b.items) > 0 {
		through = b.items[0].GetSeq() - 1
	}
	err := b.spool.release(through)
	switch {
	case err != nil:
		b.spoolErrors++
		if !b.delFailing {
			b.logger.Error("cannot delete delivered spool segments; the spool directory grows until it works again", "error", err.Error())
		}
	case b.delFailing:
		b.logger.Info("spool segments deleted again")
	}
	b.delFailing = err != nil
}

// writeErr logs the first failure of a run of failed writes and the first
// success after it, and counts every failure.
func (b *Buffer) writeErr(err error) {
	switch {
	case err != nil:
		b.spoolErrors++
		if !b.writeFailing {
			b.logger.Error("spool write failed; results are kept in memory only until it works again (logged once until then)", "error", err.Error())
		}
	case b.writeFailing:
		b.logger.Info("spool writable again", "failed_writes", b.spoolErrors)
	}
	b.writeFailing = err != nil
}

// logOpened logs what opening the spool found, once, and returns the number of
// damaged records.
func logOpened(logger *slog.Logger, dir string, op spoolOpened) uint64 {
	if op.converted > 0 {
		logger.Info("spool segments of the previous format read and rewritten in format 2", "dir", dir, "segments", op.converted)
	}
	if len(op.damage) == 0 {
		return 0
	}
	var records, bytes uint64
	var where []string
	for i, d := range op.damage {
		records += d.records
		bytes += uint64(d.bytes)
		if i < 8 {
			where = append(where, d.String())
		}
	}
	if len(op.damage) > 8 {
		where = append(where, fmt.Sprintf("and %d more", len(op.damage)-8))
	}
	attrs := []any{"dir", dir, "records", records, "bytes", bytes, "where", strings.Join(where, "; "),
		"intact_results", len(op.results), "next_seq", op.next}
	var then string
	switch {
	case op.oldEpoch != 0:
		then = "the damage reached the end of a previous-format spool, so the intact results go on in a new epoch (a coordinator that counted some of them before counts those again)"
		attrs = append(attrs, "old_epoch", op.oldEpoch)
	case op.skipped > 0:
		then = "the damage reached the end of the spool, so numbering skips to above every number the epoch may have used; the coordinator counts the numbers it never received as missing"
		attrs = append(attrs, "skipped_seqs", op.skipped)
	default:
		then = "intact records after the damage are kept; the coordinator counts the lost numbers it never received as missing"
	}
	logger.Error("spool damaged: results lost; "+then, attrs...)
	return records
}

// SkipPast makes the next sequence number at least counted+1 and returns how
// many numbers that skipped (0 when the buffer is already past it). A Client
// calls it with a coordinator's cursor for this epoch after Register: a cursor
// beyond the numbers this probe has used means the spool lost its end without
// noticing (a power cut before the fsync, a spool copied back from a backup),
// and numbering on below it would have every next result skipped as a replay.
func (b *Buffer) SkipPast(counted uint64) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if counted < b.nextSeq {
		return 0
	}
	skipped := counted + 1 - b.nextSeq
	b.nextSeq = counted + 1
	return skipped
}

// SpoolDamaged returns how many records were found damaged (lost) when the
// spool was opened.
func (b *Buffer) SpoolDamaged() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spoolDamaged
}

// SpoolErrors counts failed spool writes.
func (b *Buffer) SpoolErrors() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spoolErrors
}

// Consumers returns every consumer's cursor.
func (b *Buffer) Consumers() map[string]uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.acked)
}

// Acked returns a consumer's cursor (0 if unknown).
func (b *Buffer) Acked(consumer string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.acked[consumer]
}

// Added returns a channel closed at the next Record.
func (b *Buffer) Added() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.added.C()
}

// Since returns up to n results with seq > after, in order.
func (b *Buffer) Since(after uint64, n int) []*linkmeshv1.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.indexAfter(after)
	end := min(len(b.items), i+max(n, 0))
	return append([]*linkmeshv1.Result(nil), b.items[i:end]...)
}

// indexAfter returns the index of the first item with seq > after.
func (b *Buffer) indexAfter(after uint64) int {
	lo, hi := 0, len(b.items)
	for lo < hi {
		m := (lo + hi) / 2
		if b.items[m].GetSeq() <= after {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// Join adds a consumer whose cursor starts at acked; results it has not acked are
// kept for it.
func (b *Buffer) Join(consumer string, acked uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.acked[consumer] = acked
	b.trimLocked()
}

// Leave removes a consumer (a coordinator that left the mesh for good), so the
// results only it was waiting for can go.
func (b *Buffer) Leave(consumer string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.acked, consumer)
	b.trimLocked()
}

// Ack moves a consumer's cursor and forgets what every consumer has acked.
func (b *Buffer) Ack(consumer string, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq > b.acked[consumer] {
		b.acked[consumer] = seq
	}
	b.trimLocked()
}

func (b *Buffer) trimLocked() {
	if len(b.acked) == 0 {
		return
	}
	low := ^uint64(0)
	for _, a := range b.acked {
		low = min(low, a)
	}
	n := b.indexAfter(low)
	clear(b.items[:n])
	b.items = b.items[n:]
	if b.spool != nil && n > 0 {
		b.releaseLocked()
	}
}

// Dropped returns how many results were dropped because the buffer was full.
func (b *Buffer) Dropped() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Len returns how many results are held.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// LastSeq returns the sequence number of the latest result (0 if none yet).
func (b *Buffer) LastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nextSeq - 1
}
