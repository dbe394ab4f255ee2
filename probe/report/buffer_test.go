package report

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

func record(b *Buffer, n int) {
	for range n {
		b.Record(&linkmeshv1.Result{Code: linkmeshv1.Code_CODE_OK})
	}
}

func seqsOf(rs []*linkmeshv1.Result) []uint64 {
	out := []uint64{}
	for _, r := range rs {
		out = append(out, r.GetSeq())
	}
	return out
}

// held lists the sequence numbers the buffer holds.
func held(b *Buffer) []uint64 { return seqsOf(b.Since(0, b.Len()+1)) }

func TestRecordNumbersFromOne(t *testing.T) {
	b := NewBuffer(10)
	if got := b.LastSeq(); got != 0 {
		t.Errorf("LastSeq of an empty buffer: got %d, want 0", got)
	}
	r := &linkmeshv1.Result{Seq: 99} // a caller's seq is overwritten
	b.Record(r)
	if r.GetSeq() != 1 {
		t.Errorf("first Record: got seq %d, want 1", r.GetSeq())
	}
	record(b, 2)
	if got, want := held(b), []uint64{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("held: got %v, want %v", got, want)
	}
	if got := b.LastSeq(); got != 3 {
		t.Errorf("LastSeq: got %d, want 3", got)
	}
}

func TestSince(t *testing.T) {
	b := NewBuffer(10)
	record(b, 5)
	tests := []struct {
		name  string
		after uint64
		max   int
		want  []uint64
	}{
		{"all", 0, 10, []uint64{1, 2, 3, 4, 5}},
		{"after a cursor", 2, 10, []uint64{3, 4, 5}},
		{"limited by max", 0, 2, []uint64{1, 2}},
		{"after a cursor, limited", 1, 3, []uint64{2, 3, 4}},
		{"after the last", 5, 10, []uint64{}},
		{"beyond the last", 99, 10, []uint64{}},
		{"max 0", 0, 0, []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqsOf(b.Since(tt.after, tt.max)); !slices.Equal(got, tt.want) {
				t.Errorf("Since(%d, %d): got %v, want %v", tt.after, tt.max, got, tt.want)
			}
		})
	}
	// Since returns a copy of the slice: recording more does not change it.
	got := b.Since(0, 10)
	record(b, 3)
	if s := seqsOf(got); !slices.Equal(s, []uint64{1, 2, 3, 4, 5}) {
		t.Errorf("an earlier Since result changed to %v", s)
	}
}

// TestAckTrimsToTheSlowestConsumer: a result is forgotten only when every
// consumer has acknowledged it.
func TestAckTrimsToTheSlowestConsumer(t *testing.T) {
	type step struct {
		op       string // "join", "ack", "record"
		consumer string
		seq      uint64
		wantHeld []uint64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "two consumers",
			steps: []step{
				{"join", "a", 0, []uint64{}},
				{"join", "b", 0, []uint64{}},
				{"record", "", 5, []uint64{1, 2, 3, 4, 5}},
				{"ack", "a", 3, []uint64{1, 2, 3, 4, 5}},
				{"ack", "b", 2, []uint64{3, 4, 5}},
				{"ack", "b", 5, []uint64{4, 5}},
				{"ack", "a", 5, []uint64{}},
			},
		},
		{
			name: "an ack never moves a cursor back",
			steps: []step{
				{"join", "a", 0, []uint64{}},
				{"join", "b", 0, []uint64{}},
				{"record", "", 4, []uint64{1, 2, 3, 4}},
				{"ack", "a", 3, []uint64{1, 2, 3, 4}},
				{"ack", "a", 1, []uint64{1, 2, 3, 4}},
				{"ack", "b", 4, []uint64{4}},
			},
		},
		{
			name: "a new consumer holds what it has not acked",
			steps: []step{
				{"join", "a", 0, []uint64{}},
				{"record", "", 3, []uint64{1, 2, 3}},
				{"join", "b", 1, []uint64{1, 2, 3}}, // a still needs 1
				{"ack", "a", 3, []uint64{2, 3}},     // now b is the slowest
				{"ack", "b", 3, []uint64{}},
			},
		},
		{
			name: "join with the coordinator's cursor (register after a restart)",
			steps: []step{
				{"join", "a", 0, []uint64{}},
				{"record", "", 4, []uint64{1, 2, 3, 4}},
				{"join", "a", 2, []uint64{3, 4}},
			},
		},
		{
			name: "without consumers nothing is trimmed",
			steps: []step{
				{"record", "", 3, []uint64{1, 2, 3}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuffer(100)
			for i, s := range tt.steps {
				switch s.op {
				case "join":
					b.Join(s.consumer, s.seq)
				case "ack":
					b.Ack(s.consumer, s.seq)
				case "record":
					record(b, int(s.seq))
				}
				if got := held(b); !slices.Equal(got, s.wantHeld) {
					t.Errorf("step %d (%s %s %d): held %v, want %v", i, s.op, s.consumer, s.seq, got, s.wantHeld)
				}
			}
		})
	}
}

// TestFullDropsOldest: when full, the oldest result goes and is counted,
// whether or not a consumer still waits for it.
func TestFullDropsOldest(t *testing.T) {
	b := NewBuffer(3)
	b.Join("a", 0)
	record(b, 3)
	if got := b.Dropped(); got != 0 {
		t.Errorf("at capacity: got %d dropped, want 0", got)
	}
	record(b, 2)
	if got, want := held(b), []uint64{3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("held: got %v, want %v", got, want)
	}
	if got := b.Dropped(); got != 2 {
		t.Errorf("dropped: got %d, want 2", got)
	}
	if got := b.Len(); got != 3 {
		t.Errorf("Len: got %d, want 3", got)
	}
	if got := b.LastSeq(); got != 5 {
		t.Errorf("LastSeq: got %d, want 5 (numbering goes on)", got)
	}
	// The consumer at 0 resumes after the gap.
	if got := seqsOf(b.Since(0, 10)); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Errorf("Since(0): got %v, want [3 4 5]", got)
	}
	// After an ack there is room again: nothing more is dropped.
	b.Ack("a", 5)
	record(b, 3)
	if got := b.Dropped(); got != 2 {
		t.Errorf("after ack and 3 more: got %d dropped, want 2", got)
	}
}

func TestNewBufferCapacityAtLeastOne(t *testing.T) {
	for _, c := range []int{0, -5} {
		b := NewBuffer(c)
		record(b, 2)
		if got := held(b); !slices.Equal(got, []uint64{2}) {
			t.Errorf("NewBuffer(%d) after 2 records: held %v, want [2]", c, got)
		}
		if got := b.Dropped(); got != 1 {
			t.Errorf("NewBuffer(%d) after 2 records: dropped %d, want 1", c, got)
		}
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestAdded(t *testing.T) {
	b := NewBuffer(2)
	ch := b.Added()
	if isClosed(ch) {
		t.Fatal("Added before any Record: closed, want open")
	}
	b.Join("a", 0)
	b.Ack("a", 0)
	b.Since(0, 10)
	if isClosed(ch) {
		t.Fatal("Added after Join/Ack/Since: closed, want open")
	}
	record(b, 1)
	if !isClosed(ch) {
		t.Fatal("Added after Record: open, want closed")
	}
	next := b.Added()
	if isClosed(next) {
		t.Fatal("Added after Record: got a closed channel, want a fresh one")
	}
	record(b, 3) // also when Record drops
	if !isClosed(next) {
		t.Fatal("Added after a dropping Record: open, want closed")
	}
}

// TestConcurrent is for the race detector: recorders, a sender per consumer
// reading and acking, as the scheduler and the clients do.
func TestConcurrent(t *testing.T) {
	const recorders, perRecorder = 4, 500
	b := NewBuffer(recorders * perRecorder) // large enough that nothing is dropped
	consumers := []string{"coord-a", "coord-b"}
	for _, c := range consumers {
		b.Join(c, 0)
	}
	var wg sync.WaitGroup
	for range recorders {
		wg.Go(func() {
			for range perRecorder {
				b.Record(&linkmeshv1.Result{Code: linkmeshv1.Code_CODE_OK})
			}
		})
	}
	total := uint64(recorders * perRecorder)
	received := make([][]uint64, len(consumers))
	for i, c := range consumers {
		wg.Go(func() {
			var acked uint64
			for acked < total {
				added := b.Added()
				batch := b.Since(acked, 7)
				if len(batch) == 0 {
					<-added
					continue
				}
				for _, r := range batch {
					received[i] = append(received[i], r.GetSeq())
				}
				acked = batch[len(batch)-1].GetSeq()
				b.Ack(c, acked)
			}
		})
	}
	wg.Wait()
	for i, c := range consumers {
		if len(received[i]) != int(total) {
			t.Errorf("%s: got %d results, want %d", c, len(received[i]), total)
			continue
		}
		for j, s := range received[i] {
			if s != uint64(j+1) {
				t.Errorf("%s: result %d has seq %d, want %d (in order, no gaps, no repeats)", c, j, s, j+1)
				break
			}
		}
	}
	if b.Len() != 0 || b.Dropped() != 0 || b.LastSeq() != total {
		t.Errorf("end: got Len %d, Dropped %d, LastSeq %d; want 0, 0, %d", b.Len(), b.Dropped(), b.LastSeq(), total)
	}
}

func ExampleBuffer() {
	b := NewBuffer(100)
	b.Join("coord-a", 0)
	b.Join("coord-b", 0)
	for range 3 {
		b.Record(&linkmeshv1.Result{})
	}
	b.Ack("coord-a", 3)
	b.Ack("coord-b", 1)
	fmt.Println(b.Len(), b.LastSeq())
	// Output: 2 3
}
