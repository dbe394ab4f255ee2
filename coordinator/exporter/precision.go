package exporter

import (
	"math"
	"time"
)

// The precision of the figures /metrics gives: no more digits than the
// measurement has, which also keeps the answer small (a loss estimate's 17
// digits were 12 % of a lossy path's bytes). Both round up, so a figure is
// never below what was measured: a loss just over an alert's threshold stays
// over it.

// lossDigits is the significant digits of a loss estimate: finer than its
// resolution (one exchange in a window of at most 256 attempts) and far finer
// than its accuracy (±0.10 at 10 % loss, docs/benchmarks.md).
const lossDigits = 3

// microseconds is d in seconds, rounded up to the microsecond: the kernel's
// handshake RTT (Linux TCP_INFO, Windows SIO_TCP_INFO) is in microseconds,
// and the RTTs timed by the probe itself are no more accurate than that.
func microseconds(d time.Duration) float64 {
	if d <= 0 {
		return d.Seconds()
	}
	return float64((d+time.Microsecond-1)/time.Microsecond) / 1e6
}

// ratio is r, a share between 0 and 1, rounded up to lossDigits significant
// digits; but never up to 1 when r is below 1 (1 says that everything was
// lost), there it is rounded down.
func ratio(r float64) float64 {
	if !(r > 0 && r < 1) { // 0, 1 and what validation let through unchanged
		return r
	}
	scale := math.Pow(10, lossDigits-1-math.Floor(math.Log10(r)))
	// The tolerance keeps a ratio that is exact in decimal (0.05 stored as
	// 0.05000000000000000277) from being rounded up a step.
	up := math.Ceil(r*scale-1e-9) / scale
	if up >= 1 {
		return math.Floor(r*scale) / scale
	}
	return up
}
