// Package seeding estimates how long the MI link's initial seeding of a
// database takes over a path whose throughput the echo kind measured. The
// probe's echo kind puts an estimate in its result detail; the coordinator's
// API and the check report show them.
//
// The estimate is size ÷ throughput, nothing more: Microsoft's own figures
// (100 GB at ~190 Mbit/s ≈ 1.2 h; at 10 GB/h ≈ 10 h) are exactly that, seeding
// compression (trace flag 9567) can shorten it, and other traffic on the link
// lengthens it. A seeding that is interrupted starts again, and one that has
// not finished after 6 days is cancelled.
package seeding

import (
	"fmt"
	"math"
	"time"
)

// GB is a decimal gigabyte, the unit of Microsoft's figures.
const GB = 1e9

// Limit is how long the MI link lets one seeding run before cancelling it.
const Limit = 6 * 24 * time.Hour

// Time returns how long sizeBytes take to cross a path of bitsPerSecond,
// uncompressed. It returns 0 when either is not positive, and saturates at the
// largest time.Duration.
func Time(sizeBytes, bitsPerSecond float64) time.Duration {
	if !(sizeBytes > 0) || !(bitsPerSecond > 0) {
		return 0
	}
	sec := sizeBytes * 8 / bitsPerSecond
	if sec >= float64(math.MaxInt64)/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(sec * float64(time.Second))
}

// Describe says, in the words of a report, how long seeding sizeBytes takes
// at bitsPerSecond, e.g. "seeding 100 GB ≈ 1.2 h", and warns when that passes
// the 6-day limit. It returns "" when the throughput is unknown.
func Describe(sizeBytes, bitsPerSecond float64) string {
	d := Time(sizeBytes, bitsPerSecond)
	if d == 0 {
		return ""
	}
	s := fmt.Sprintf("seeding %s ≈ %s", size(sizeBytes), duration(d))
	if d > Limit {
		s += " (over the 6-day limit: seeding would be cancelled; seed from a backup or add bandwidth)"
	}
	return s
}

func size(b float64) string {
	if b >= 1000*GB {
		return fmt.Sprintf("%.3g TB", b/(1000*GB))
	}
	return fmt.Sprintf("%.3g GB", b/GB)
}

func duration(d time.Duration) string {
	switch h := d.Hours(); {
	case h >= 48:
		return fmt.Sprintf("%.1f days", h/24)
	case h >= 1:
		return fmt.Sprintf("%.1f h", h)
	default:
		return fmt.Sprintf("%.0f min", math.Ceil(d.Minutes()))
	}
}
