package echo

import (
	"math"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// TestClampBurst: a responder's burst report cannot make the result say more
// than the probe sent, nor faster than MaxThroughput; an honest one is kept.
func TestClampBurst(t *testing.T) {
	for _, tt := range []struct {
		name     string
		res      wire.BurstResult
		sent     int64
		wantRate float64
	}{
		{"honest", wire.BurstResult{Bytes: 1 << 20, Duration: time.Second}, 1 << 20, 8 << 20},
		{"more bytes than sent", wire.BurstResult{Bytes: math.MaxUint64, Duration: time.Second}, 1 << 20, 8 << 20},
		{"faster than 1 Tbit/s", wire.BurstResult{Bytes: 1 << 30, Duration: time.Nanosecond}, 1 << 30, MaxThroughput},
		{"nothing", wire.BurstResult{Bytes: 0, Duration: 0}, 1 << 20, 0},
		{"nothing sent", wire.BurstResult{Bytes: 1 << 20, Duration: time.Second}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := clampBurst(tt.res, tt.sent).Rate()
			if math.Abs(got-tt.wantRate) > tt.wantRate*1e-6 || got > MaxThroughput {
				t.Errorf("rate %v, want %v", got, tt.wantRate)
			}
		})
	}
}

// TestClampFigures: every figure ends within the bounds the coordinator
// takes (docs/results.md), so no figure gets the whole result dropped.
func TestClampFigures(t *testing.T) {
	r := attempt.Result{LossRatio: math.NaN(), Jitter: 2 * time.Hour, Throughput: math.Inf(1), MTU: 70000, MTUBlackhole: true}
	clampFigures(&r)
	if r.LossRatio != 0 || r.Jitter != time.Hour || r.Throughput != MaxThroughput || r.MTU != 65535 || !r.MTUBlackhole {
		t.Errorf("got %+v", r)
	}
	r = attempt.Result{LossRatio: 1.5, Jitter: -time.Second, Throughput: -1, MTU: 10}
	clampFigures(&r)
	if r.LossRatio != 1 || r.Jitter != 0 || r.Throughput != 0 || r.MTU != 68 {
		t.Errorf("got %+v", r)
	}
	r = attempt.Result{LossRatio: 0.25, Jitter: time.Millisecond, Throughput: 1e9, MTUBlackhole: true}
	clampFigures(&r)
	if r.LossRatio != 0.25 || r.Jitter != time.Millisecond || r.Throughput != 1e9 || r.MTU != 0 || r.MTUBlackhole {
		t.Errorf("got %+v", r)
	}
}
