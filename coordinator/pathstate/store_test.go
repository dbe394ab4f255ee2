package pathstate

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestRegisterReturnsCursor(t *testing.T) {
	s := New(newClock().Now)
	if got := s.Register(probeInfo("sql01", "sql", 7)); got != 0 {
		t.Fatalf("first Register: got cursor %d, want 0", got)
	}
	if _, err := s.Ingest("sql01", 7, 0, seqs(1, 2, 3)); err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if got := s.Register(probeInfo("sql01", "sql", 7)); got != 3 {
		t.Errorf("Register again, same epoch: got cursor %d, want 3", got)
	}
	if got := s.Register(probeInfo("sql01", "sql", 8)); got != 0 {
		t.Errorf("Register with a new epoch: got cursor %d, want 0", got)
	}
	// The old epoch's batch is refused now, with the new epoch's cursor.
	st, err := s.Ingest("sql01", 7, 0, seqs(4))
	if !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("Ingest with the old epoch: got %v, want ErrEpochChanged", err)
	}
	if st.AckedSeq != 0 || st.Counted != 0 {
		t.Errorf("Ingest with the old epoch: got %+v, want nothing counted and cursor 0", st)
	}
	// The new epoch restarts at seq 1 and is counted on top of the old counts.
	if _, err := s.Ingest("sql01", 8, 0, seqs(1, 2)); err != nil {
		t.Fatalf("Ingest new epoch: %v", err)
	}
	if got := onlyPath(t, s).Counts[linkmeshv1.Code_CODE_OK]; got != 5 {
		t.Errorf("ok count over two epochs: got %d, want 5", got)
	}
	if got := onlyProbe(t, s).Gaps; got != 0 {
		t.Errorf("gaps after an epoch change: got %d, want 0", got)
	}
}

func TestIngestUnknownProbe(t *testing.T) {
	s := New(newClock().Now)
	_, err := s.Ingest("ghost", 1, 0, seqs(1))
	if !errors.Is(err, ErrUnknownProbe) {
		t.Fatalf("got %v, want ErrUnknownProbe", err)
	}
	if snap := s.Snapshot(time.Minute); len(snap.Paths) != 0 || len(snap.Probes) != 0 {
		t.Errorf("an unknown probe's batch left state behind: %+v", snap)
	}
}

// TestIngestIdempotent replays, overlaps and reorders batches: each (epoch, seq)
// is counted once, and missing seqs are counted as gaps.
func TestIngestIdempotent(t *testing.T) {
	type batch struct {
		seqs           []uint64
		wantCounted    int
		wantDuplicates int
		wantAcked      uint64
	}
	tests := []struct {
		name     string
		batches  []batch
		wantOK   uint64
		wantGaps uint64
	}{
		{
			name: "replayed batch is not double-counted",
			batches: []batch{
				{[]uint64{1, 2, 3}, 3, 0, 3},
				{[]uint64{1, 2, 3}, 0, 3, 3},
			},
			wantOK: 3,
		},
		{
			name: "overlapping batch counts only the new part",
			batches: []batch{
				{[]uint64{1, 2, 3}, 3, 0, 3},
				{[]uint64{2, 3, 4, 5}, 2, 2, 5},
			},
			wantOK: 5,
		},
		{
			name: "seq equal to the cursor is a duplicate",
			batches: []batch{
				{[]uint64{1, 2}, 2, 0, 2},
				{[]uint64{2}, 0, 1, 2},
			},
			wantOK: 2,
		},
		{
			name: "duplicate seq inside one batch counted once",
			batches: []batch{
				{[]uint64{1, 2, 2, 3}, 3, 1, 3},
			},
			wantOK: 3,
		},
		{
			name: "unsorted batch is sorted first",
			batches: []batch{
				{[]uint64{3, 1, 2}, 3, 0, 3},
				{[]uint64{2, 4}, 1, 1, 4},
			},
			wantOK: 4,
		},
		{
			name: "gaps counted",
			batches: []batch{
				{[]uint64{1, 2, 5}, 3, 0, 5},
				{[]uint64{9, 10}, 2, 0, 10},
			},
			wantOK:   5,
			wantGaps: 2 + 3,
		},
		{
			name: "first seq above 1 is a gap",
			batches: []batch{
				{[]uint64{4}, 1, 0, 4},
			},
			wantOK:   1,
			wantGaps: 3,
		},
		{
			name: "late result below the cursor after a gap is a duplicate",
			batches: []batch{
				{[]uint64{1, 3}, 2, 0, 3},
				{[]uint64{2}, 0, 1, 3},
			},
			wantOK:   2,
			wantGaps: 1,
		},
		{
			name: "empty batch (heartbeat) counts nothing",
			batches: []batch{
				{nil, 0, 0, 0},
				{[]uint64{1}, 1, 0, 1},
				{nil, 0, 0, 1},
			},
			wantOK: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(newClock().Now)
			s.Register(probeInfo("sql01", "sql", 1))
			for i, b := range tt.batches {
				st, err := s.Ingest("sql01", 1, 0, seqs(b.seqs...))
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				want := IngestStats{Counted: b.wantCounted, Duplicates: b.wantDuplicates, AckedSeq: b.wantAcked, ReceivedSeq: b.wantAcked}
				if !reflect.DeepEqual(st, want) {
					t.Errorf("batch %d %v: got %+v, want %+v", i, b.seqs, st, want)
				}
			}
			p := onlyProbe(t, s)
			if p.Gaps != tt.wantGaps {
				t.Errorf("gaps: got %d, want %d", p.Gaps, tt.wantGaps)
			}
			path := onlyPath(t, s)
			if got := path.Counts[linkmeshv1.Code_CODE_OK]; got != tt.wantOK {
				t.Errorf("ok count: got %d, want %d", got, tt.wantOK)
			}
			if path.RTTCount != tt.wantOK {
				t.Errorf("rtt count: got %d, want %d", path.RTTCount, tt.wantOK)
			}
		})
	}
}

func TestIngestDoesNotReorderCallersSlice(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	batch := seqs(3, 1, 2)
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, r := range batch {
		got = append(got, r.GetSeq())
	}
	if fmt.Sprint(got) != "[3 1 2]" {
		t.Errorf("caller's batch order: got %v, want [3 1 2] (unchanged)", got)
	}
}

func TestIngestDroppedTotalNeverDecreases(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	for i, tt := range []struct{ dropped, want uint64 }{{5, 5}, {3, 5}, {9, 9}, {0, 9}} {
		if _, err := s.Ingest("sql01", 1, tt.dropped, nil); err != nil {
			t.Fatal(err)
		}
		if got := onlyProbe(t, s).DroppedTotal; got != tt.want {
			t.Errorf("step %d (reported %d): got DroppedTotal %d, want %d", i, tt.dropped, got, tt.want)
		}
	}
}

// TestIngestLatestByProbeTime: Last follows the attempt time, not the arrival order.
func TestIngestLatestByProbeTime(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	mk := func(seq uint64, at time.Duration, code linkmeshv1.Code, rtt time.Duration, detail string) *linkmeshv1.Result {
		r := res(seq)
		r.Time = timestamppb.New(t0.Add(at))
		r.Code = code
		r.Detail = detail
		r.Rtt = nil
		if rtt > 0 {
			r.Rtt = durationpb.New(rtt)
		}
		return r
	}
	batch := []*linkmeshv1.Result{
		mk(1, 10*time.Second, linkmeshv1.Code_CODE_OK, 2*time.Millisecond, "ok"),
		mk(2, 20*time.Second, linkmeshv1.Code_CODE_TIMEOUT, 0, "i/o timeout"),
		// Reported later, started earlier (two targets' goroutines raced):
		mk(3, 15*time.Second, linkmeshv1.Code_CODE_OK, 3*time.Millisecond, "late ok"),
		mk(4, 20*time.Second, linkmeshv1.Code_CODE_REFUSED, 700*time.Microsecond, "refused, same instant"),
	}
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, s)
	if p.Last != linkmeshv1.Code_CODE_REFUSED || !p.LastTime.Equal(t0.Add(20*time.Second)) || p.LastDetail != "refused, same instant" {
		t.Errorf("latest: got %v at %v %q, want CODE_REFUSED at t0+20s %q", p.Last, p.LastTime, p.LastDetail, "refused, same instant")
	}
	if p.LastRTT != 700*time.Microsecond {
		t.Errorf("LastRTT: got %v, want 700µs (the latest attempt that measured one)", p.LastRTT)
	}
	if want := t0.Add(15 * time.Second); !p.LastSuccess.Equal(want) {
		t.Errorf("LastSuccess: got %v, want %v", p.LastSuccess, want)
	}
	wantCounts := map[linkmeshv1.Code]uint64{linkmeshv1.Code_CODE_OK: 2, linkmeshv1.Code_CODE_TIMEOUT: 1, linkmeshv1.Code_CODE_REFUSED: 1}
	for c := linkmeshv1.Code_CODE_UNSPECIFIED; int(c) < vocab.NumCodes; c++ {
		if p.Counts[c] != wantCounts[c] {
			t.Errorf("Counts[%v]: got %d, want %d", c, p.Counts[c], wantCounts[c])
		}
	}
	// Only ok RTTs go into the histogram.
	if p.RTTCount != 2 || math.Abs(p.RTTSum-0.005) > 1e-12 {
		t.Errorf("histogram: got count %d sum %v, want 2 and 0.005", p.RTTCount, p.RTTSum)
	}
}

func TestIngestSeparatesPathsAndSumsSYNRetransmits(t *testing.T) {
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	a := res(1)
	a.SynRetransmits = 2
	b := res(2)
	b.SynRetransmits = 1
	c := res(3)
	c.Port = 5022 // another path: same target, other port
	d := res(4)
	d.Kind = linkmeshv1.Kind_KIND_ECHO // another path: other kind
	if _, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{a, b, c, d}); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot(time.Minute)
	if len(snap.Paths) != 3 {
		t.Fatalf("paths: got %d, want 3", len(snap.Paths))
	}
	wantKeys := []Key{
		{Source: "sql01", SourceSite: "sql", Target: "mi01", TargetSite: "mi", Port: 5022, Kind: linkmeshv1.Kind_KIND_TCP},
		{Source: "sql01", SourceSite: "sql", Target: "mi01", TargetSite: "mi", Port: 5023, Kind: linkmeshv1.Kind_KIND_TCP},
		{Source: "sql01", SourceSite: "sql", Target: "mi01", TargetSite: "mi", Port: 5023, Kind: linkmeshv1.Kind_KIND_ECHO},
	}
	for i, want := range wantKeys {
		if snap.Paths[i].Key != want {
			t.Errorf("paths[%d]: got %+v, want %+v", i, snap.Paths[i].Key, want)
		}
	}
	if got := snap.Paths[1].SYNRetransmits; got != 3 {
		t.Errorf("SYN retransmits on 5023/tcp: got %d, want 3", got)
	}
}

// TestHistogramBuckets: an RTT exactly on a bound belongs to that bucket (le).
func TestHistogramBuckets(t *testing.T) {
	tests := []struct {
		name   string
		rtt    time.Duration
		bucket int // index into BucketCounts; len(Buckets) is "above 10 s"
	}{
		{"zero", 0, 0},
		{"below the first bound", 50 * time.Microsecond, 0},
		{"on the first bound 100µs", 100 * time.Microsecond, 0},
		{"just above 100µs", 100*time.Microsecond + time.Nanosecond, 1},
		{"on 250µs", 250 * time.Microsecond, 1},
		{"on 1ms", time.Millisecond, 3},
		{"just above 1ms", time.Millisecond + time.Nanosecond, 4},
		{"on 2.5ms", 2500 * time.Microsecond, 4},
		{"on 25ms", 25 * time.Millisecond, 7},
		{"on 100ms", 100 * time.Millisecond, 9},
		{"on 1s", time.Second, 12},
		{"on 2.5s", 2500 * time.Millisecond, 13},
		{"on the last bound 10s", 10 * time.Second, 15},
		{"above the last bound", 10*time.Second + time.Nanosecond, 16},
		{"an hour", time.Hour, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(newClock().Now)
			s.Register(probeInfo("sql01", "sql", 1))
			r := res(1)
			r.Rtt = durationpb.New(tt.rtt)
			if _, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{r}); err != nil {
				t.Fatal(err)
			}
			p := onlyPath(t, s)
			var want [len(Buckets) + 1]uint64
			want[tt.bucket] = 1
			if p.BucketCounts != want {
				t.Errorf("rtt %v: got buckets %v, want %v", tt.rtt, p.BucketCounts, want)
			}
			if p.RTTCount != 1 || p.RTTSum != tt.rtt.Seconds() {
				t.Errorf("rtt %v: got count %d sum %v, want 1 and %v", tt.rtt, p.RTTCount, p.RTTSum, tt.rtt.Seconds())
			}
		})
	}
}
