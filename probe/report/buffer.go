// Package report delivers a probe's results to its coordinators: a bounded buffer
// numbers every result and keeps it until every coordinator has acknowledged it,
// and one Client per coordinator registers, follows the plan stream and sends
// batches, retrying with backoff while the coordinator is away.
package report

import (
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
}

// NewBuffer returns a buffer that holds at most capacity results.
func NewBuffer(capacity int) *Buffer {
	if capacity < 1 {
		capacity = 1
	}
	return &Buffer{capacity: capacity, nextSeq: 1, acked: map[string]uint64{}, added: make(chan struct{})}
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
	close(b.added)
	b.added = make(chan struct{})
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
