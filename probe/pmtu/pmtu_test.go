package pmtu

import (
	"context"
	"errors"
	"testing"
)

func TestSearch(t *testing.T) {
	threshold := func(limit int) Test {
		return func(_ context.Context, size int) (bool, error) { return size <= limit, nil }
	}
	tests := []struct {
		name        string
		pass, fail  int
		test        Test
		ctxDone     bool
		wantLargest int
		wantExact   bool
	}{
		{"vpn at 1400", 124, 1500, threshold(1400), false, 1400, true},
		{"just below full size", 124, 1500, threshold(1499), false, 1499, true},
		{"nothing above the known size", 124, 1500, threshold(124), false, 124, true},
		{"jumbo search ends within MaxSteps", 124, 9000, threshold(1350), false, 1350, true},
		{"adjacent sizes need no test", 1499, 1500, threshold(0), false, 1499, true},
		{"test error stops early", 124, 1500, func(context.Context, int) (bool, error) { return false, errors.New("dial failed") }, false, 124, false},
		{"context done", 124, 1500, threshold(1400), true, 124, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tt.ctxDone {
				cancel()
			}
			defer cancel()
			out := Search(ctx, tt.pass, tt.fail, tt.test)
			if out.Largest != tt.wantLargest || out.Exact != tt.wantExact {
				t.Errorf("got %+v, want largest %d exact %v", out, tt.wantLargest, tt.wantExact)
			}
			if out.Tests > MaxSteps {
				t.Errorf("%d tests, more than MaxSteps", out.Tests)
			}
		})
	}
}
