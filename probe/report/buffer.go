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
	"sync"

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
	added    chan struct{} // closed and replaced on every Record

	spool       *spool // nil without a spool directory
	logger      *slog.Logger
	spoolErrors uint64
	lastErr     string
}

// NewBuffer returns a buffer that holds at most capacity results in memory.
func NewBuffer(capacity int) *Buffer {
	if capacity < 1 {
		capacity = 1
	}
	return &Buffer{capacity: capacity, nextSeq: 1, acked: map[string]uint64{}, added: make(chan struct{})}
}

// OpenBuffer returns a buffer that also keeps its results in the spool directory
// dir, restoring what a previous run left there: the unacked results, the epoch
// and the next sequence number, and the drop count. Spool write errors are logged
// (once per change) and counted; the buffer goes on in memory.
func OpenBuffer(capacity int, dir string, logger *slog.Logger) (*Buffer, error) {
	b := NewBuffer(capacity)
	sp, restored, next, err := openSpool(dir)
	if err != nil {
		return nil, err
	}
	b.spool, b.logger, b.nextSeq, b.dropped = sp, logger, next, sp.meta.Dropped
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
		b.spoolErr(b.spool.append(r))
		b.releaseLocked()
	}
	close(b.added)
	b.added = make(chan struct{})
}

// releaseLocked lets the spool delete what the buffer no longer holds.
func (b *Buffer) releaseLocked() {
	through := b.nextSeq - 1
	if len(b.items) > 0 {
		through = b.items[0].GetSeq() - 1
	}
	b.spoolErr(b.spool.release(through))
}

func (b *Buffer) spoolErr(err error) {
	if err == nil {
		if b.lastErr != "" && b.logger != nil {
			b.logger.Info("spool writable again")
		}
		b.lastErr = ""
		return
	}
	b.spoolErrors++
	if msg := err.Error(); msg != b.lastErr && b.logger != nil {
		b.logger.Error("spool write failed; results are kept in memory only until it works again", "error", fmt.Sprint(err))
		b.lastErr = msg
	}
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
	return b.added
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
