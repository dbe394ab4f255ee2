package round

import (
	"context"
	"fmt"
	"strings"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// roundEnd is how a round's collection ended.
type roundEnd string

const (
	endComplete roundEnd = "complete" // every target has its attempts
	endDeadline roundEnd = "deadline" // the round's deadline passed first
	endCanceled roundEnd = "canceled" // the client went away
	endShutdown roundEnd = "shutdown" // the coordinator stops
)

// collect waits for the round's results, saying how each target advances,
// until every target has its attempts or within has passed, ctx ends or the
// coordinator stops.
func (r *Runner) collect(ctx context.Context, rd *round, targets []*roundTarget, within time.Duration, say func(string, ...any)) (outcome string, ended roundEnd) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	shown := make([]int, len(targets))
	for {
		counts, complete, changed := r.running.progress(rd)
		for i, n := range counts {
			if n == shown[i] {
				continue
			}
			shown[i] = n
			t := targets[i]
			say("%s: %d/%d attempts (%s: %s)", t.role, n, t.target.GetAttempts(), t.describe(), codeName(r.running.latest(rd, i)))
		}
		if complete {
			return outcomeComplete, endComplete
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return outcomePartial, endCanceled
		case <-r.cfg.Stopping:
			say("the coordinator is shutting down: the round ends with the results it has")
			return outcomePartial, endShutdown
		case <-deadline.C:
			counts, _, _ := r.running.progress(rd)
			say("%s", partialNews(targets, counts, within))
			return outcomePartial, endDeadline
		}
	}
}

// partialNews says which targets lack results when the deadline passed.
func partialNews(targets []*roundTarget, counts []int, within time.Duration) string {
	var missing []string
	silent := false
	for i, t := range targets {
		if uint32(counts[i]) < t.target.GetAttempts() {
			missing = append(missing, fmt.Sprintf("%s %d/%d (%s)", t.role, counts[i], t.target.GetAttempts(), t.source))
			silent = silent || counts[i] == 0
		}
	}
	msg := fmt.Sprintf("the round's deadline (%v) passed before every result arrived; the round is partial: %s", within.Round(time.Millisecond), strings.Join(missing, ", "))
	if silent {
		msg += ". A probe that sent nothing may not have the round's targets: a probe that reports to several coordinators applies the latest plan from any of them, so another coordinator's plan can displace them"
	}
	return msg
}

// codeName is a result's code as the metrics name it ("ok", "timeout", …).
func codeName(r *linkmeshv1.Result) string {
	if r == nil {
		return "no result"
	}
	return vocab.CodeName(r.GetCode())
}

// awaitStandIn waits up to Times.StandIn for probe to report what became of
// the stand-in on port: serving, port taken or failed (nil: no answer).
func (r *Runner) awaitStandIn(ctx context.Context, probe string, port uint32) *linkmeshv1.StandInStatus {
	var got *linkmeshv1.StandInStatus
	r.await(ctx, r.cfg.Times.StandIn, func() bool {
		st, ok := r.cfg.StandIns.Status(probe, port)
		switch st.GetState() {
		case linkmeshv1.StandInState_STAND_IN_STATE_SERVING, linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN, linkmeshv1.StandInState_STAND_IN_STATE_FAILED:
			got = st
			return ok
		}
		return false
	})
	return got
}

// awaitReleased waits up to Times.Release for probe to report that it holds
// no stand-in on port any more (none listed, or ended).
func (r *Runner) awaitReleased(ctx context.Context, probe string, port uint32) bool {
	return r.await(ctx, r.cfg.Times.Release, func() bool {
		st, ok := r.cfg.StandIns.Status(probe, port)
		return !ok || st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_ENDED
	})
}

// await looks at cond at every stand-in report until it holds, within has
// passed, ctx ends or the coordinator stops; it reports whether cond held.
func (r *Runner) await(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		changed := r.cfg.StandIns.Changed() // before cond: a report in between wakes us
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.cfg.Stopping:
			return false
		case <-deadline.C:
			return cond()
		case <-changed:
		}
	}
}
