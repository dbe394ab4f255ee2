package pathstate

import (
	"sync"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// t0 is the fixed start of every test clock.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is an injectable, settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func probeInfo(name, site string, epoch uint64) *linkmeshv1.ProbeInfo {
	return &linkmeshv1.ProbeInfo{
		Name:             name,
		Site:             site,
		Labels:           map[string]string{"role": "primary"},
		Version:          "v1.0.0",
		Os:               "linux/amd64",
		ResponderAddress: "10.0.0.1:5023",
		Epoch:            epoch,
	}
}

// res is a valid ok result to mi01:5023/tcp with seq and a 1 ms RTT, started
// seq seconds after t0.
func res(seq uint64) *linkmeshv1.Result {
	return &linkmeshv1.Result{
		Seq:        seq,
		Time:       timestamppb.New(t0.Add(time.Duration(seq) * time.Second)),
		TargetId:   "sql->mi/tcp/mi01:5023/tcp",
		Kind:       linkmeshv1.Kind_KIND_TCP,
		Target:     "mi01",
		TargetSite: "mi",
		Host:       "10.1.0.1",
		Port:       5023,
		Code:       linkmeshv1.Code_CODE_OK,
		Rtt:        durationpb.New(time.Millisecond),
		RttSource:  linkmeshv1.RTTSource_RTT_SOURCE_KERNEL,
	}
}

func seqs(ns ...uint64) []*linkmeshv1.Result {
	out := make([]*linkmeshv1.Result, len(ns))
	for i, n := range ns {
		out[i] = res(n)
	}
	return out
}

// onlyPath returns the single path of a snapshot.
func onlyPath(t *testing.T, s *Store) Path {
	t.Helper()
	snap := s.Snapshot(time.Minute)
	if len(snap.Paths) != 1 {
		t.Fatalf("paths: got %d, want 1: %+v", len(snap.Paths), snap.Paths)
	}
	return snap.Paths[0]
}

func onlyProbe(t *testing.T, s *Store) ProbeState {
	t.Helper()
	snap := s.Snapshot(time.Minute)
	if len(snap.Probes) != 1 {
		t.Fatalf("probes: got %d, want 1", len(snap.Probes))
	}
	return snap.Probes[0]
}
