package sched

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// bounded is a check round's target: attempts, a pause between them, a round.
func bounded(id string, attempts uint32, pause, timeout time.Duration) *linkmeshv1.Target {
	t := target(id, pause, timeout)
	t.Attempts, t.Round = attempts, "chk-0001"
	return t
}

// TestBoundedRunsAtOnceAndStops: a bounded target starts without a random
// phase, makes exactly its attempts, each result carries the round, and then
// it stops although it stays in the plan.
func TestBoundedRunsAtOnceAndStops(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK, RTT: time.Millisecond, RTTSource: attempt.RTTKernel}}
		rec := &recorder{}
		plans, _ := running(t, p, rec)
		sent := time.Now()
		plans <- plan(1, bounded("chk", 3, 20*time.Millisecond, time.Second))
		waitfor.Cond(t, 3*time.Second, "3 recorded attempts", func() bool { return len(rec.forTarget("chk")) == 3 })
		c := p.callsFor("chk")
		// A random phase would be up to 2 s; at once is well under it even on a
		// loaded machine.
		if first := c[0].start.Sub(sent); first > time.Second {
			t.Errorf("first attempt %v after the plan: want at once (no start phase)", first)
		}
		for i, r := range rec.forTarget("chk") {
			if r.GetRound() != "chk-0001" {
				t.Errorf("result %d: round %q, want chk-0001", i, r.GetRound())
			}
		}
		// It stays in the plan but makes no more attempts.
		time.Sleep(time.Minute) // fake time: thousands of pauses, a fourth attempt would be due
		synctest.Wait()
		if got := p.count("chk"); got != 3 {
			t.Errorf("attempts: got %d, want exactly 3", got)
		}
	})
}

// TestBoundedTimeoutNotCappedByPause: a bounded target's deadline is its
// timeout even when the pause between attempts is shorter.
func TestBoundedTimeoutNotCappedByPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{block: true}
		rec := &recorder{}
		plans, _ := running(t, p, rec)
		plans <- plan(1, bounded("chk", 1, 10*time.Millisecond, 300*time.Millisecond))
		waitfor.Cond(t, 3*time.Second, "a recorded attempt", func() bool { return len(rec.forTarget("chk")) == 1 })
		c := p.callsFor("chk")[0]
		r := rec.forTarget("chk")[0]
		if got := c.deadline.Sub(r.GetTime().AsTime()); got < 300*time.Millisecond || got > 400*time.Millisecond {
			t.Errorf("deadline %v after the start, want the target's 300ms timeout", got)
		}
		if r.GetCode() != linkmeshv1.Code_CODE_TIMEOUT {
			t.Errorf("code %v, want CODE_TIMEOUT", r.GetCode())
		}
	})
}

// TestBoundedDefaultsAndRemoval: without a timeout a bounded attempt gets the
// default deadline, and removing the target from the plan ends it mid-attempt
// without recording a result that says nothing about the path.
func TestBoundedDefaultsAndRemoval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{block: true}
		rec := &recorder{}
		plans, _ := running(t, p, rec)
		tg := bounded("chk", 2, 0, 0)
		tg.Timeout, tg.Interval = nil, nil
		plans <- plan(1, tg)
		waitfor.Cond(t, 3*time.Second, "the attempt in flight", func() bool { return p.inFlight.Load() == 1 })
		c := p.callsFor("chk")[0]
		if got := c.deadline.Sub(c.start); got < defaultTimeout-100*time.Millisecond || got > defaultTimeout {
			t.Errorf("deadline %v after the start, want the default %v", got, defaultTimeout)
		}
		plans <- plan(2)
		waitfor.Cond(t, 3*time.Second, "the attempt to end", func() bool { return p.inFlight.Load() == 0 })
		if got := len(rec.forTarget("chk")); got != 0 {
			t.Errorf("recorded %d results for an attempt stopped by a plan change, want 0", got)
		}
	})
}

// TestBoundedPauseBetweenAttempts: the interval of a bounded target is the
// pause between its attempts.
func TestBoundedPauseBetweenAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		rec := &recorder{}
		plans, _ := running(t, p, rec)
		tg := bounded("chk", 3, 80*time.Millisecond, time.Second)
		tg.Interval = durationpb.New(80 * time.Millisecond)
		plans <- plan(1, tg)
		waitfor.Cond(t, 3*time.Second, "3 attempts", func() bool { return p.count("chk") == 3 })
		c := p.callsFor("chk")
		// Only the lower bound: a loaded machine makes attempts late, never early.
		if gap := c[2].start.Sub(c[0].start); gap < 160*time.Millisecond {
			t.Errorf("3 attempts within %v, want two pauses of 80ms at least", gap)
		}
	})
}
