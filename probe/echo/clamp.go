package echo

import (
	"math"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// Bounds on an echo attempt's figures (docs/results.md). The coordinator
// drops a result beyond them (whole: its outcome with it), and a responder
// reports the burst's figures itself, so the probe clamps them first.
const (
	// MaxThroughput is the highest throughput a result reports, in bits/s
	// (1 Tbit/s; the coordinator's bound).
	MaxThroughput = 1e12
	// maxJitter bounds Result.jitter (the coordinator's bound on durations).
	maxJitter = time.Hour
	// minMTU and maxMTU bound a path-MTU figure: an IPv4 packet's least and
	// any IP packet's most.
	minMTU, maxMTU = 68, 65535
)

// clampBurst bounds what a responder reports of a burst of sent bytes: it
// cannot have received more than was sent, nor at more than MaxThroughput (a
// report that says so has its duration raised to match), so a responder that
// lies (or counts wrong) cannot make the result report more.
func clampBurst(r wire.BurstResult, sent int64) wire.BurstResult {
	r.Bytes = min(r.Bytes, uint64(max(sent, 0)))
	if r.Bytes == 0 {
		return r
	}
	if least := time.Duration(math.Ceil(float64(r.Bytes) * 8 / MaxThroughput * 1e9)); r.Duration < least {
		r.Duration = least
	}
	return r
}

// clampFigures bounds a result's measured figures to what the coordinator
// takes: loss within [0, 1], jitter within [0, 1h], throughput within
// [0, MaxThroughput], a path MTU of 68 to 65535 bytes (or none); a figure
// that is not a number becomes 0 (none measured).
func clampFigures(r *attempt.Result) {
	if math.IsNaN(r.LossRatio) {
		r.LossRatio = 0
	}
	r.LossRatio = min(max(r.LossRatio, 0), 1)
	r.Jitter = min(max(r.Jitter, 0), maxJitter)
	if math.IsNaN(r.Throughput) {
		r.Throughput = 0
	}
	r.Throughput = min(max(r.Throughput, 0), MaxThroughput)
	if r.MTU != 0 {
		r.MTU = min(max(r.MTU, minMTU), maxMTU)
	}
	if r.MTU == 0 {
		r.MTUBlackhole = false
	}
}
