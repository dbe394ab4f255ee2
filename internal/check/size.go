package check

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Size is a number of bytes: the size of the databases to seed.
type Size int64

// maxSize bounds --database-size: far above any Managed Instance's storage, so
// only a typo reaches it.
const maxSize = Size(1) << 50 // 1 PiB

var sizeUnits = map[string]float64{
	"b":  1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// ParseSize reads a size such as "500GB", "2TiB" or "1.5 TB". GB and TB are
// powers of 1000, GiB and TiB powers of 1024; the unit is required, since a bare
// number or "G" would leave the reader guessing which one was meant.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("size %q: give a number and a unit, e.g. 500GB or 2TiB", s)
	}
	n, err := strconv.ParseFloat(t[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %q is not a number", s, t[:i])
	}
	unit := strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)", s, strings.TrimSpace(t[i:]))
	}
	b := n * mult
	if b < 1 || math.IsInf(b, 0) || math.IsNaN(b) {
		return 0, fmt.Errorf("size %q: must be more than 0 bytes", s)
	}
	if b > float64(maxSize) {
		return 0, fmt.Errorf("size %q: larger than any Managed Instance can hold (at most %s)", s, maxSize)
	}
	return Size(b), nil
}

// String renders the size in the decimal units Azure's portal uses: "500 GB",
// "2.2 TB".
func (s Size) String() string {
	v := float64(s)
	for _, u := range []struct {
		name string
		mult float64
	}{{"PB", 1e15}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if v >= u.mult {
			return strconv.FormatFloat(math.Round(v/u.mult*10)/10, 'f', -1, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", int64(s))
}

// seedingLimit is how long initial seeding may run before it is cancelled.
const seedingLimit = 6 * 24 * time.Hour

// Seeding is the initial-seeding estimate of a report: how long copying the
// databases to the MI would take over the measured path, or what it needs.
type Seeding struct {
	// DatabaseSize is --database-size; 0 when not given.
	DatabaseSize Size
	// Throughput is the measured path throughput in bits per second; 0 when
	// nothing measured it (the standalone mode cannot).
	Throughput float64
	// Estimate is DatabaseSize over Throughput; 0 when not computable.
	Estimate time.Duration
	// Note says what the estimate needs, or what it means.
	Note string
}

// EstimateSeeding computes the seeding estimate for size bytes at throughput
// bits per second (0: not measured). The standalone mode calls it with 0 and
// gets a note saying what is needed and figures at common rates for reference;
// the coordinated mode passes what its throughput burst measured. The estimate
// ignores seeding compression (trace flag 9567), which can shorten it.
func EstimateSeeding(size Size, throughput float64) Seeding {
	s := Seeding{DatabaseSize: size, Throughput: throughput}
	switch {
	case size <= 0:
		s.Note = "give --database-size (e.g. 500GB) for a seeding-time estimate"
	case throughput <= 0:
		s.Note = fmt.Sprintf("needs a measured throughput between this host and the MI's VNet, which the standalone mode cannot measure: run with --coordinator. For reference only, %s would take %s at 100 Mbit/s and %s at 1 Gbit/s.",
			size, roundHours(seedTime(size, 100e6)), roundHours(seedTime(size, 1e9)))
	default:
		s.Estimate = seedTime(size, throughput)
		s.Note = fmt.Sprintf("%s at %s takes about %s; seeding restarts from the beginning if interrupted.", size, formatRate(throughput), roundHours(s.Estimate))
		if s.Estimate > seedingLimit {
			s.Note += " That is more than 6 days, after which seeding is cancelled: raise the bandwidth, enable seeding compression (trace flag 9567), or seed fewer databases at a time."
		}
	}
	return s
}

func seedTime(size Size, bitsPerSecond float64) time.Duration {
	return time.Duration(float64(size) * 8 / bitsPerSecond * float64(time.Second))
}

// roundHours renders a long duration: "11.1 h", "25 min", "3.2 days".
func roundHours(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%.0f min", math.Max(1, d.Minutes()))
	case d < 72*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	default:
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
}

// formatRate renders bits per second: "190 Mbit/s".
func formatRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return strconv.FormatFloat(math.Round(bps/1e8)/10, 'f', -1, 64) + " Gbit/s"
	case bps >= 1e6:
		return strconv.FormatFloat(math.Round(bps/1e5)/10, 'f', -1, 64) + " Mbit/s"
	default:
		return strconv.FormatFloat(math.Round(bps/1e2)/10, 'f', -1, 64) + " kbit/s"
	}
}
