package sched

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// call is one Probe call as the fake prober saw it.
type call struct {
	target   *linkmeshv1.Target // the pointer the scheduler passed: identifies the job
	start    time.Time
	deadline time.Time
}

// fakeProber records every call and answers with result, or, when block is set,
// waits for the attempt's context and answers Timeout.
type fakeProber struct {
	result attempt.Result
	block  bool

	mu       sync.Mutex
	calls    []call
	inFlight atomic.Int32
}

func (p *fakeProber) Probe(ctx context.Context, t *linkmeshv1.Target, _ uint64) attempt.Result {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	dl, _ := ctx.Deadline()
	p.mu.Lock()
	p.calls = append(p.calls, call{target: t, start: time.Now(), deadline: dl})
	p.mu.Unlock()
	if p.block {
		<-ctx.Done()
		return attempt.Result{Code: attempt.Timeout, Detail: ctx.Err().Error()}
	}
	return p.result
}

// callsFor returns the calls for target id.
func (p *fakeProber) callsFor(id string) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if c.target.GetId() == id {
			out = append(out, c)
		}
	}
	return out
}

func (p *fakeProber) count(id string) int { return len(p.callsFor(id)) }

func (p *fakeProber) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// recorder is a Recorder that keeps every result.
type recorder struct {
	mu      sync.Mutex
	results []*linkmeshv1.Result
}

func (r *recorder) Record(res *linkmeshv1.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) forTarget(id string) []*linkmeshv1.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*linkmeshv1.Result
	for _, res := range r.results {
		if res.GetTargetId() == id {
			out = append(out, res)
		}
	}
	return out
}

func target(id string, interval, timeout time.Duration) *linkmeshv1.Target {
	return &linkmeshv1.Target{
		Id:       id,
		Kind:     linkmeshv1.Kind_KIND_TCP,
		Host:     "127.0.0.1",
		Port:     5023,
		Name:     id,
		Site:     "mi",
		Interval: durationpb.New(interval),
		Timeout:  durationpb.New(timeout),
		Rule:     "test",
	}
}

func plan(gen uint64, targets ...*linkmeshv1.Target) *linkmeshv1.Plan {
	return &linkmeshv1.Plan{Generation: gen, Targets: targets}
}

// running starts a Scheduler over p and returns the plan channel and a stop
// function that cancels Run and waits for it to return.
func running(t *testing.T, p Prober, rec Recorder) (chan<- *linkmeshv1.Plan, func()) {
	t.Helper()
	s := New(map[linkmeshv1.Kind]Prober{linkmeshv1.Kind_KIND_TCP: p}, rec, discard())
	ctx, cancel := context.WithCancel(context.Background())
	plans := make(chan *linkmeshv1.Plan)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, plans) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: got %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return plans, stop
}
