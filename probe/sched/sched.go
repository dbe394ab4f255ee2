// Package sched runs a probe's plan: one goroutine per target, each making an
// attempt every interval with a per-attempt deadline, starting at a random phase so
// probes and targets never fire in lockstep. The kinds only make single attempts
// (see Prober); scheduling, timing and recording live here, as in cloudprober.
package sched

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// Prober makes one attempt against a target and honours ctx's deadline. n
// counts the target's attempts from 0 since it was scheduled: kinds that do
// some work only every so often (the echo kind's path-MTU check and burst)
// read it.
type Prober interface {
	Probe(ctx context.Context, t *linkmeshv1.Target, n uint64) attempt.Result
}

// Recorder receives the result of every attempt. Record must not block for long:
// it is called from the target's goroutine.
type Recorder interface {
	Record(r *linkmeshv1.Result)
}

// maxStartPhase caps the random delay before a target's first attempt, so a new
// plan gives answers within seconds even when the interval is minutes.
const maxStartPhase = 2 * time.Second

// startSlot is the grid a target's first attempt (and so, interval after
// interval, every later one) is aligned to: the targets whose attempts fall in
// the same slot share the process's wake-ups — the Go runtime's thread wake-ups
// and sleeps, not the attempts, are most of a probe's CPU at tens of targets
// (docs/benchmarks.md#probe-footprint). A few connections at the same instant
// are no burst to any firewall; the slots still spread a plan's targets over
// the start phase.
const startSlot = 250 * time.Millisecond

// Scheduler runs targets. Create it with New and call Run once.
type Scheduler struct {
	probers map[linkmeshv1.Kind]Prober
	rec     Recorder
	logger  *slog.Logger
	now     func() time.Time
}

// New returns a Scheduler that uses probers by kind and sends results to rec.
func New(probers map[linkmeshv1.Kind]Prober, rec Recorder, logger *slog.Logger) *Scheduler {
	return &Scheduler{probers: probers, rec: rec, logger: logger, now: time.Now}
}

type job struct {
	target *linkmeshv1.Target
	cancel context.CancelFunc
	done   chan struct{}
}

// Run applies every plan received on plans until ctx is done, then stops all
// targets and returns once their goroutines have ended. A target whose definition
// is unchanged across plans keeps running undisturbed.
func (s *Scheduler) Run(ctx context.Context, plans <-chan *linkmeshv1.Plan) error {
	jobs := map[string]*job{}
	var wg sync.WaitGroup
	defer func() {
		for _, j := range jobs {
			j.cancel()
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case plan, ok := <-plans:
			if !ok {
				plans = nil // no more plans: keep running the current one
				continue
			}
			s.apply(ctx, plan, jobs, &wg)
		}
	}
}

func (s *Scheduler) apply(ctx context.Context, plan *linkmeshv1.Plan, jobs map[string]*job, wg *sync.WaitGroup) {
	want := make(map[string]*linkmeshv1.Target, len(plan.GetTargets()))
	for _, t := range plan.GetTargets() {
		want[t.GetId()] = t
	}
	var started, stopped int
	for id, j := range jobs {
		if t, ok := want[id]; ok && proto.Equal(t, j.target) {
			continue
		}
		j.cancel()
		<-j.done
		delete(jobs, id)
		stopped++
	}
	for id, t := range want {
		if _, ok := jobs[id]; ok {
			continue
		}
		p, ok := s.probers[t.GetKind()]
		if !ok {
			s.logger.Warn("plan names a kind this probe cannot run; skipping the target", "target", id, "kind", t.GetKind().String())
			continue
		}
		jctx, cancel := context.WithCancel(ctx)
		j := &job{target: t, cancel: cancel, done: make(chan struct{})}
		jobs[id] = j
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(j.done)
			s.runTarget(jctx, p, t)
		}()
		started++
	}
	s.logger.Info("plan applied", "generation", plan.GetGeneration(), "targets", len(jobs), "started", started, "stopped", stopped)
}

// runTarget makes an attempt every interval, starting at a random phase; a
// bounded target (Target.attempts) runs its attempts at once instead.
func (s *Scheduler) runTarget(ctx context.Context, p Prober, t *linkmeshv1.Target) {
	if t.GetAttempts() > 0 {
		s.runBounded(ctx, p, t)
		return
	}
	interval := t.GetInterval().AsDuration()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	timeout := t.GetTimeout().AsDuration()
	if timeout <= 0 || timeout > interval {
		timeout = interval
	}
	now := time.Now()
	phase := time.Duration(rand.Int64N(int64(min(interval, maxStartPhase))))
	if interval >= startSlot {
		phase = alignedPhase(now, phase)
	}
	// Attempts are due at next, next + interval, … on the monotonic clock:
	// the targets of one slot share the same instants to the nanosecond, so
	// the runtime fires their timers in one wake-up (a ticker per target,
	// started as each goroutine got to it, spread them over a millisecond).
	next := now.Add(phase)
	timer := time.NewTimer(phase)
	defer timer.Stop()
	ports := newRotation(t)
	for n := uint64(0); ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for _, port := range ports.next() {
			s.once(ctx, p, t, port, timeout, n)
		}
		next = nextDue(next, interval, time.Now())
		timer.Reset(time.Until(next))
	}
}

// nextDue is when the attempt after the one due at prev is due, on prev's
// grid of interval, as a ticker would have it: one interval on; or, when the
// attempt outlasted its interval (a timeout as long as the interval), the
// latest instant already past at now — it runs at once, as a ticker's
// pending tick does, and the instants before it are dropped.
func nextDue(prev time.Time, interval time.Duration, now time.Time) time.Time {
	next := prev.Add(interval)
	if late := now.Sub(next); late > 0 {
		next = next.Add(late / interval * interval)
	}
	return next
}

// alignedPhase moves a first attempt due phase after now back to the start
// of its slot (startSlot), never before now.
func alignedPhase(now time.Time, phase time.Duration) time.Duration {
	return max(now.Add(phase).Truncate(startSlot).Sub(now), 0)
}

// Bounds of a bounded target (an on-demand check round's): its attempts run
// back to back with a pause between them, each with its own deadline.
const (
	maxBoundedAttempts = 100
	maxBoundedTimeout  = 2 * time.Minute
	maxBoundedPause    = 10 * time.Second
	defaultTimeout     = 5 * time.Second
)

// runBounded makes a bounded target's attempts one after another, starting at
// once: a check round waits for them. The interval is the pause between
// attempts, and the timeout is not capped by it.
func (s *Scheduler) runBounded(ctx context.Context, p Prober, t *linkmeshv1.Target) {
	n := min(t.GetAttempts(), maxBoundedAttempts)
	timeout := t.GetTimeout().AsDuration()
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	timeout = min(timeout, maxBoundedTimeout)
	pause := min(max(t.GetInterval().AsDuration(), 0), maxBoundedPause)
	ports := newRotation(t)
	for i := range uint64(n) {
		if i > 0 && pause > 0 {
			timer := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		for _, port := range ports.next() {
			s.once(ctx, p, t, port, timeout, i)
		}
		if ctx.Err() != nil {
			return
		}
	}
	s.logger.Debug("bounded target done", "target", t.GetId(), "round", t.GetRound(), "attempts", n)
}

// once makes attempt n on port (the target's own port, or one of its range).
func (s *Scheduler) once(ctx context.Context, p Prober, t *linkmeshv1.Target, port uint32, timeout time.Duration, n uint64) {
	probed := t
	if port != t.GetPort() {
		probed = proto.CloneOf(t)
		probed.Port = port
	}
	start := s.now()
	actx, cancel := context.WithTimeout(ctx, timeout)
	res := p.Probe(actx, probed, n)
	cancel()
	if ctx.Err() != nil {
		return // the target was stopped mid-attempt: the result says nothing about the path
	}
	r := attempt.ToProto(t, start, res)
	if t.GetPortEnd() > t.GetPort() {
		r.ProbedPort = port
		r.Detail = attempt.Truncate(fmt.Sprintf("port %d: %s", port, r.GetDetail()), 500)
	}
	s.rec.Record(r)
}

// rotation walks a port range a sample at a time, from a random start, so the
// whole range is covered over successive rounds.
type rotation struct {
	lo, size, sample, cursor uint32
}

func newRotation(t *linkmeshv1.Target) *rotation {
	if t.GetPortEnd() <= t.GetPort() {
		return &rotation{lo: t.GetPort(), size: 1, sample: 1}
	}
	size := t.GetPortEnd() - t.GetPort() + 1
	sample := min(max(t.GetSample(), 1), size)
	return &rotation{lo: t.GetPort(), size: size, sample: sample, cursor: rand.Uint32N(size)}
}

// next returns the ports of the next round.
func (r *rotation) next() []uint32 {
	out := make([]uint32, r.sample)
	for i := range out {
		out[i] = r.lo + (r.cursor+uint32(i))%r.size
	}
	r.cursor = (r.cursor + r.sample) % r.size
	return out
}
