package exporter

import (
	"math"
	"strconv"
	"testing"
	"time"
)

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string // as the text answer writes it
	}{
		{0, "0"},
		{1, "1"},
		{0.05, "0.05"}, // exact in decimal: not a step up
		{0.1, "0.1"},
		{1.0 / 30, "0.0334"},                  // up, never below the estimate
		{2.0 / 30, "0.0667"},                  //
		{1 - math.Sqrt(0.9), "0.0514"},        // 0.05131670194948623: over a 5 % threshold, stays over
		{0.050000001, "0.0501"},               // just over 5 %: still over
		{1 - math.Sqrt(255.0/256), "0.00196"}, // one lost exchange in 256: not 0
		{1e-9, "1e-09"},
		{0.99951, "0.999"}, // some got through: never 1
		{0.9999999, "0.999"},
		{math.NaN(), "NaN"},
	} {
		got := strconv.FormatFloat(ratio(tc.in), 'g', -1, 64)
		if got != tc.want {
			t.Errorf("ratio(%v) = %s, want %s", tc.in, got, tc.want)
		}
		if r := ratio(tc.in); tc.in > 0 && tc.in < 1 && (r < tc.in && r < 0.999 || r == 0 || r >= 1) {
			t.Errorf("ratio(%v) = %v: below the estimate, 0 or 1", tc.in, r)
		}
	}
}

func TestMicroseconds(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{824 * time.Microsecond, "0.000824"},
		{824*time.Microsecond + 317, "0.000825"}, // up to the next microsecond
		{20*time.Millisecond + 1, "0.020001"},
		{1500 * time.Millisecond, "1.5"},
		{1, "1e-06"},
	} {
		if got := strconv.FormatFloat(microseconds(tc.in), 'g', -1, 64); got != tc.want {
			t.Errorf("microseconds(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
