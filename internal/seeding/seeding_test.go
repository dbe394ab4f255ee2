package seeding

import (
	"strings"
	"testing"
	"time"
)

// TestTimeMatchesMicrosoftFigures checks the estimate against the figures in
// Microsoft's MI link documentation (DESIGN §1).
func TestTimeMatchesMicrosoftFigures(t *testing.T) {
	tests := []struct {
		name      string
		size, bps float64
		want      time.Duration
		tolerance time.Duration
	}{
		{"100 GB at 190 Mbit/s is about 1.2 h", 100 * GB, 190e6, 72 * time.Minute, 3 * time.Minute},
		{"10 GB/h is 10 GB/h", 100 * GB, 10 * GB * 8 / 3600, 10 * time.Hour, time.Second},
		{"1 TB at 20 Mbit/s is about 4.6 days", 1000 * GB, 20e6, 111 * time.Hour, time.Hour},
		{"no throughput", 100 * GB, 0, 0, 0},
		{"no size", 0, 190e6, 0, 0},
		{"absurdly slow saturates", 1e18, 1e-9, time.Duration(1<<63 - 1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Time(tt.size, tt.bps)
			if diff := (got - tt.want).Abs(); diff > tt.tolerance {
				t.Errorf("Time(%g, %g) = %v, want %v ± %v", tt.size, tt.bps, got, tt.want, tt.tolerance)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		size, bps float64
		want      string
	}{
		{100 * GB, 190e6, "seeding 100 GB ≈ 1.2 h"},
		{10 * GB, 1e9, "seeding 10 GB ≈ 2 min"},
		{2000 * GB, 20e6, "seeding 2 TB ≈ 9.3 days (over the 6-day limit"},
		{100 * GB, 0, ""},
	}
	for _, tt := range tests {
		if got := Describe(tt.size, tt.bps); !strings.HasPrefix(got, tt.want) || (tt.want == "" && got != "") {
			t.Errorf("Describe(%g, %g) = %q, want it to start with %q", tt.size, tt.bps, got, tt.want)
		}
	}
}
