package exporter

import (
	"testing"
	"time"
)

// TestUnixSecondsNoOverflow: timestamps anywhere a protobuf Timestamp (or a
// checkpoint) can hold, years 1 to 9999, convert to the right Unix seconds;
// UnixNano overflows past 2262 and before 1678.
func TestUnixSecondsNoOverflow(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want float64
	}{
		{time.Unix(1700000000, 500_000_000), 1700000000.5},
		{time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), 9246182400},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), 253402300799},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), -62135596800},
	} {
		if got := unixSeconds(tt.t); got != tt.want {
			t.Errorf("unixSeconds(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
}
