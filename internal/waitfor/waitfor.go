// Package waitfor is the tests' one way to wait for what happens in its own
// time — a listener, another process, a kernel timer, a peer over the
// network: poll a condition until it holds, with a deadline that fails the
// test and says what never happened.
//
// Prefer not to wait at all: code driven by time is tested in a
// testing/synctest bubble (where this package works too, on the bubble's
// clock) or with an injected clock. Use waitfor where the thing waited on is
// outside the test's control.
package waitfor

import (
	"testing"
	"time"
)

// Cond polls cond until it holds; once within has passed it fails t, saying
// what was awaited.
func Cond(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(within, cond) {
		t.Fatalf("not within %v: %s", within, what)
	}
}

// Poll polls cond until it holds or within has passed, and reports whether it
// held. It looks again after 1 ms, then backs off to every 50 ms.
func Poll(within time.Duration, cond func() bool) bool {
	return PollEvery(within, 50*time.Millisecond, cond)
}

// PollEvery is Poll backing off to every, for a cond that costs something
// the measurement under test competes with (a scrape, an API call in the
// lab): the lab's delayer shares the test's CPU.
func PollEvery(within, every time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	pause := min(time.Millisecond, every)
	for !cond() {
		if !time.Now().Before(deadline) {
			return cond()
		}
		// Real time is the point here: what we wait for runs on its own clock.
		time.Sleep(min(pause, time.Until(deadline)))
		pause = min(2*pause, every)
	}
	return true
}
