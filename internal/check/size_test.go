package check

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string
	}{
		{"500GB", 500e9, ""},
		{"500 gb", 500e9, ""},
		{"2TiB", 2 << 40, ""},
		{"1.5TB", 1.5e12, ""},
		{"750MiB", 750 << 20, ""},
		{"100", 0, "give a number and a unit"},
		{"100G", 0, `unknown unit "G"`},
		{"GB", 0, "give a number and a unit"},
		{"-5GB", 0, "give a number and a unit"},
		{"0GB", 0, "more than 0 bytes"},
		{"1.2.3GB", 0, "not a number"},
		{"2PiB", 0, "larger than any Managed Instance"},
		{"", 0, "give a number and a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSize(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	for _, tt := range []struct {
		s    Size
		want string
	}{{500e9, "500 GB"}, {2 << 40, "2.2 TB"}, {999, "999 B"}, {1500, "1.5 kB"}} {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.s), got, tt.want)
		}
	}
}

func TestEstimateSeeding(t *testing.T) {
	// DESIGN §1: 100 GB at ~190 Mbit/s ≈ 1.2 h.
	s := EstimateSeeding(100e9, 190e6)
	if h := s.Estimate.Hours(); h < 1.1 || h > 1.25 {
		t.Errorf("100 GB at 190 Mbit/s: %v, want about 1.2 h", s.Estimate)
	}
	if !strings.Contains(s.Note, "1.2 h") || !strings.Contains(s.Note, "190 Mbit/s") {
		t.Errorf("note %q, want the figures", s.Note)
	}
	// 10 GB/h ≈ 22.2 Mbit/s: 100 GB ≈ 10 h.
	if s := EstimateSeeding(100e9, 10e9*8/3600); s.Estimate.Round(time.Minute) != 10*time.Hour {
		t.Errorf("100 GB at 10 GB/h: %v, want 10 h", s.Estimate)
	}
	if s := EstimateSeeding(16e12, 100e6); !strings.Contains(s.Note, "more than 6 days") {
		t.Errorf("16 TB at 100 Mbit/s: note %q, want the 6-day warning", s.Note)
	}
	s = EstimateSeeding(500e9, 0)
	if s.Estimate != 0 || !strings.Contains(s.Note, "--coordinator") || !strings.Contains(s.Note, "11.1 h at 100 Mbit/s") {
		t.Errorf("no throughput: %+v, want no estimate, what is needed and reference figures", s)
	}
	if s := EstimateSeeding(0, 0); !strings.Contains(s.Note, "--database-size") {
		t.Errorf("no size: note %q", s.Note)
	}
}
