package sched

import (
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestStartPhase: with a long interval, every target's first attempt still
// comes within the 2 s start phase, and not all at the same instant.
func TestStartPhase(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		const n = 6
		var targets []*linkmeshv1.Target
		for i := range n {
			targets = append(targets, target("t"+strconv.Itoa(i), time.Hour, 5*time.Second))
		}
		start := time.Now()
		plans <- plan(1, targets...)
		waitfor.Cond(t, maxStartPhase+time.Second, "every target's first attempt", func() bool { return p.total() >= n })
		var first, last time.Time
		for _, tg := range targets {
			c := p.callsFor(tg.GetId())
			if len(c) != 1 {
				t.Errorf("%s: got %d attempts, want 1 (the interval is an hour)", tg.GetId(), len(c))
				continue
			}
			if d := c[0].start.Sub(start); d > maxStartPhase+200*time.Millisecond {
				t.Errorf("%s: first attempt after %v, want within the %v start phase", tg.GetId(), d, maxStartPhase)
			}
			if first.IsZero() || c[0].start.Before(first) {
				first = c[0].start
			}
			if c[0].start.After(last) {
				last = c[0].start
			}
		}
		if last.Sub(first) < time.Millisecond {
			t.Errorf("%d targets started within %v of each other, want them spread over the start phase", n, last.Sub(first))
		}
	})
}

// TestRepeatsAtInterval: attempts follow each other at the interval.
func TestRepeatsAtInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK, RTT: time.Millisecond, RTTSource: attempt.RTTKernel}}
		rec := &recorder{}
		plans, stop := running(t, p, rec)
		const interval = 40 * time.Millisecond
		plans <- plan(1, target("a", interval, 20*time.Millisecond))
		waitfor.Cond(t, 3*time.Second, "8 attempts", func() bool { return p.count("a") >= 8 })
		stop()
		c := p.callsFor("a")
		mean := c[len(c)-1].start.Sub(c[0].start) / time.Duration(len(c)-1)
		// Only the lower bound is asserted: on a loaded machine attempts come late,
		// never early (8 attempts within the deadline already show they repeat).
		if mean < interval*8/10 {
			t.Errorf("mean time between attempts: got %v, want at least about %v", mean, interval)
		}
		// Every attempt that finished before the stop was recorded, once.
		if got := len(rec.forTarget("a")); got != len(c) {
			t.Errorf("recorded: got %d results, want %d (one per attempt)", got, len(c))
		}
	})
}

// TestPlanChange: an unchanged target keeps its goroutine (no restart, no new
// start phase), a dropped one stops, a new one starts, a changed one restarts.
func TestPlanChange(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		const interval = 20 * time.Millisecond
		keep1 := target("keep", interval, 10*time.Millisecond)
		drop := target("drop", interval, 10*time.Millisecond)
		change1 := target("change", interval, 10*time.Millisecond)
		plans <- plan(1, keep1, drop, change1)
		waitfor.Cond(t, 3*time.Second, "the first plan's targets to run", func() bool {
			return p.count("keep") >= 2 && p.count("drop") >= 2 && p.count("change") >= 2
		})

		keep2 := proto.Clone(keep1).(*linkmeshv1.Target) // equal, but a new message
		change2 := proto.Clone(change1).(*linkmeshv1.Target)
		change2.Timeout = durationpb.New(15 * time.Millisecond)
		add := target("add", interval, 10*time.Millisecond)
		plans <- plan(2, keep2, change2, add)
		// apply stops old jobs before it starts new ones, so once "add" has run,
		// "drop" has ended.
		waitfor.Cond(t, 3*time.Second, "the new target to run", func() bool { return p.count("add") >= 1 })
		dropped := p.count("drop")
		keepBefore := p.count("keep")
		waitfor.Cond(t, 3*time.Second, "more attempts on the kept and changed targets", func() bool {
			return p.count("keep") >= keepBefore+3 && len(callsWithTarget(p.callsFor("change"), change2)) >= 3
		})
		if got := p.count("drop"); got != dropped {
			t.Errorf("dropped target: %d attempts after the plan change, want none", got-dropped)
		}
		for i, c := range p.callsFor("keep") {
			if c.target != keep1 {
				t.Errorf("kept target, attempt %d: run by the job of %p, want the original job (%p): the target was restarted", i, c.target, keep1)
				break
			}
		}
		// The changed target runs with its new definition only, after the change.
		calls := p.callsFor("change")
		seenNew := false
		for i, c := range calls {
			switch c.target {
			case change2:
				seenNew = true
			case change1:
				if seenNew {
					t.Errorf("changed target, attempt %d: the old job ran after the new one started", i)
				}
			}
		}
	})
}

func callsWithTarget(calls []call, t *linkmeshv1.Target) []call {
	var out []call
	for _, c := range calls {
		if c.target == t {
			out = append(out, c)
		}
	}
	return out
}

// TestSamePlanAgain: receiving an identical plan restarts nothing.
func TestSamePlanAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		tg := target("a", 20*time.Millisecond, 10*time.Millisecond)
		plans <- plan(1, tg)
		waitfor.Cond(t, 3*time.Second, "attempts", func() bool { return p.count("a") >= 1 })
		for range 5 {
			plans <- plan(1, proto.Clone(tg).(*linkmeshv1.Target))
		}
		n := p.count("a")
		waitfor.Cond(t, 3*time.Second, "more attempts", func() bool { return p.count("a") >= n+3 })
		if got := len(callsWithTarget(p.callsFor("a"), tg)); got != p.count("a") {
			t.Errorf("attempts by the first job: got %d of %d, want all", got, p.count("a"))
		}
	})
}

// TestEmptyPlanStopsEverything and then a new plan starts again.
func TestEmptyPlanStopsEverything(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		plans <- plan(1, target("a", 20*time.Millisecond, 10*time.Millisecond))
		waitfor.Cond(t, 3*time.Second, "attempts", func() bool { return p.count("a") >= 1 })
		plans <- plan(2)
		plans <- plan(3, target("b", 20*time.Millisecond, 10*time.Millisecond)) // Run has applied plan 2 once it takes plan 3
		n := p.count("a")
		waitfor.Cond(t, 3*time.Second, "b's attempts", func() bool { return p.count("b") >= 3 })
		if got := p.count("a"); got != n {
			t.Errorf("a after an empty plan: %d more attempts, want none", got-n)
		}
	})
}

// TestStopEndsEverything: Run returns after cancel with no attempt in flight and
// none started afterwards; an attempt cut short by the stop is not recorded.
func TestStopEndsEverything(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{block: true}
		rec := &recorder{}
		plans, stop := running(t, p, rec)
		plans <- plan(1, target("a", time.Hour, time.Hour), target("b", time.Hour, time.Hour), target("c", time.Hour, time.Hour))
		waitfor.Cond(t, 3*time.Second, "three attempts in flight", func() bool { return p.inFlight.Load() == 3 })
		stop()
		if n := p.inFlight.Load(); n != 0 {
			t.Errorf("attempts in flight after Run returned: got %d, want 0", n)
		}
		if got := len(rec.results); got != 0 {
			t.Errorf("recorded: got %d results, want 0 (attempts cut short by the stop say nothing about the path)", got)
		}
		// Nothing may start any more: a leaked goroutine's attempt would come
		// within the interval (an hour of the bubble's fake time).
		n := p.total()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if got := p.total(); got != n {
			t.Errorf("attempts after Run returned: got %d, want 0", got-n)
		}
	})
}

// TestStopWithFastTargets: stopping while targets attempt often leaves no
// goroutine behind.
func TestStopWithFastTargets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, stop := running(t, p, &recorder{})
		var targets []*linkmeshv1.Target
		for i := range 10 {
			targets = append(targets, target("t"+strconv.Itoa(i), 5*time.Millisecond, 5*time.Millisecond))
		}
		plans <- plan(1, targets...)
		waitfor.Cond(t, 3*time.Second, "attempts on every target", func() bool {
			for _, tg := range targets {
				if p.count(tg.GetId()) < 2 {
					return false
				}
			}
			return true
		})
		stop()
		n := p.total()
		time.Sleep(time.Second) // fake time: 200 intervals
		synctest.Wait()
		if got := p.total(); got != n || p.inFlight.Load() != 0 {
			t.Errorf("after Run returned: %d more attempts, %d in flight; want none", got-n, p.inFlight.Load())
		}
	})
}

// TestAttemptDeadline: each attempt gets the target's timeout (at most the
// interval; the interval when unset), and a prober that runs into it is recorded
// with the result it returns.
func TestAttemptDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		interval, timeout time.Duration
		want              time.Duration
	}{
		{"timeout below the interval", 300 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond},
		{"timeout above the interval is capped", 100 * time.Millisecond, time.Second, 100 * time.Millisecond},
		{"no timeout: the interval", 100 * time.Millisecond, 0, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &fakeProber{block: true}
				rec := &recorder{}
				plans, _ := running(t, p, rec)
				tg := target("a", tt.interval, tt.timeout)
				if tt.timeout == 0 {
					tg.Timeout = nil
				}
				plans <- plan(1, tg)
				waitfor.Cond(t, 3*time.Second, "a recorded attempt", func() bool { return len(rec.forTarget("a")) >= 1 })
				c := p.callsFor("a")[0]
				r := rec.forTarget("a")[0]
				// The result's time is taken just before the deadline is set.
				if got := c.deadline.Sub(r.GetTime().AsTime()); got < tt.want || got > tt.want+100*time.Millisecond {
					t.Errorf("attempt deadline: %v after the attempt's start, want %v", got, tt.want)
				}
				if r.GetCode() != linkmeshv1.Code_CODE_TIMEOUT || !strings.Contains(r.GetDetail(), "deadline exceeded") {
					t.Errorf("recorded: got %v %q, want CODE_TIMEOUT with the prober's detail", r.GetCode(), r.GetDetail())
				}
				if elapsed := c.start.Sub(r.GetTime().AsTime()); elapsed < 0 || elapsed > 50*time.Millisecond {
					t.Errorf("result time: %v before the call, want the attempt's start", elapsed)
				}
			})
		})
	}
}

// TestDefaultInterval: a target without an interval is probed every 30 s; the
// first attempt still comes within the start phase.
func TestDefaultInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		tg := target("a", 0, 0)
		tg.Interval, tg.Timeout = nil, nil
		plans <- plan(1, tg)
		waitfor.Cond(t, maxStartPhase+time.Second, "the first attempt", func() bool { return p.count("a") >= 1 })
		c := p.callsFor("a")[0]
		if got := c.deadline.Sub(c.start); got > 30*time.Second || got < 29*time.Second {
			t.Errorf("attempt deadline: %v, want the default interval 30s", got)
		}
	})
}

// TestUnknownKindSkipped: a target of a kind without a prober does not run and
// does not stop the others.
func TestUnknownKindSkipped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := &fakeProber{result: attempt.Result{Code: attempt.OK}}
		plans, _ := running(t, p, &recorder{})
		dns := target("dns", 10*time.Millisecond, 5*time.Millisecond)
		dns.Kind = linkmeshv1.Kind_KIND_DNS
		plans <- plan(1, dns, target("tcp", 10*time.Millisecond, 5*time.Millisecond))
		waitfor.Cond(t, 3*time.Second, "the tcp target", func() bool { return p.count("tcp") >= 3 })
		if got := p.count("dns"); got != 0 {
			t.Errorf("dns target without a prober: got %d attempts, want 0", got)
		}
	})
}

// TestAlignedPhase: a first attempt moves back to the start of its slot, so
// targets whose phases fall in one slot start together; never before now.
func TestAlignedPhase(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 100_000_000, time.UTC) // 100 ms into a slot
	for _, tc := range []struct{ phase, want time.Duration }{
		{0, 0},                      // in the current slot: at once
		{100 * time.Millisecond, 0}, // 200 ms into it: still the current slot
		{150 * time.Millisecond, 150 * time.Millisecond}, // 250 ms: the next slot's start
		{1234 * time.Millisecond, 1150 * time.Millisecond},
		{1900 * time.Millisecond, 1900 * time.Millisecond}, // exactly a slot's start
	} {
		got := alignedPhase(now, tc.phase)
		if got != tc.want {
			t.Errorf("phase %v at %v: got %v, want %v", tc.phase, now.Format("15:04:05.000"), got, tc.want)
		}
		if at := now.Add(got); at.Sub(at.Truncate(startSlot)) != 0 && got != 0 {
			t.Errorf("phase %v: first attempt at %v, not at a slot's start", tc.phase, at.Format("15:04:05.000"))
		}
	}
}

// TestNextDue: an attempt's next instant is on its grid, one interval on; when
// the attempt outlasted its interval, the latest instant already past, so it
// runs at once (as a ticker's pending tick) and drops the ones before.
func TestNextDue(t *testing.T) {
	first := time.Date(2026, 12, 4, 10, 0, 0, 250_000_000, time.UTC)
	const iv = time.Second
	for _, tc := range []struct {
		name      string
		prev, now time.Time
		want      time.Time
	}{
		{"on time", first, first.Add(300 * time.Millisecond), first.Add(iv)},
		{"exactly at the next instant", first, first.Add(iv), first.Add(iv)},
		{"a little late: at once", first, first.Add(iv + time.Millisecond), first.Add(iv)},
		{"three instants missed: the latest, at once", first, first.Add(3*iv + 500*time.Millisecond), first.Add(3 * iv)},
	} {
		got := nextDue(tc.prev, iv, tc.now)
		if !got.Equal(tc.want) {
			t.Errorf("%s: next %v, want %v", tc.name, got.Format("15:04:05.000"), tc.want.Format("15:04:05.000"))
		}
		if tc.now.Sub(got) >= iv {
			t.Errorf("%s: next %v is a whole interval before now %v: an instant was kept that a ticker drops", tc.name, got.Format("15:04:05.000"), tc.now.Format("15:04:05.000"))
		}
		if off := got.Sub(first) % iv; off != 0 {
			t.Errorf("%s: next %v is %v off the grid", tc.name, got.Format("15:04:05.000"), off)
		}
	}
}
