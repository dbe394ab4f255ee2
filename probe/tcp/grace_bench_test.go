package tcp

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAcceptThenResetLatency measures what GraceAllowance must cover: the
// time from connect's return to the RST of a far end that accepts and resets
// at once, on loopback (no path RTT, so all of it is the far application's
// accept-and-close latency). "busy-server" runs 2 × GOMAXPROCS goroutines
// spinning in the server's process, an application saturated by its own work;
// run it beside CPU hogs in other processes to see the effect of a busy host.
//
//	go test -run '^$' -bench AcceptThenResetLatency -benchtime 200x ./probe/tcp/
func BenchmarkAcceptThenResetLatency(b *testing.B) {
	for _, spinners := range []int{0, 2 * runtime.GOMAXPROCS(0)} {
		name := "idle-server"
		if spinners > 0 {
			name = "busy-server"
		}
		b.Run(name, func(b *testing.B) {
			addr := serveWith(b, resetAtOnce)
			var stop atomic.Bool
			var wg sync.WaitGroup
			for range spinners {
				wg.Go(func() {
					for !stop.Load() {
					}
				})
			}
			defer func() { stop.Store(true); wg.Wait() }()
			var afters []time.Duration
			early := 0
			for b.Loop() {
				ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
				c, _ := (&Prober{}).Connect(ctx, addr)
				if c == nil { // the RST beat the connect call
					early++
					cancel()
					continue
				}
				w := watchAfterAccept(ctx, c.TCPConn, time.Now(), 2*time.Second)
				c.Close()
				cancel()
				if w.outcome == watchReset {
					afters = append(afters, w.after)
				}
			}
			if len(afters) == 0 {
				return
			}
			slices.Sort(afters)
			b.ReportMetric(float64(afters[len(afters)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(afters[len(afters)*99/100])/1e6, "p99-ms")
			b.ReportMetric(float64(afters[len(afters)-1])/1e6, "max-ms")
			b.ReportMetric(float64(early)/float64(early+len(afters)), "before-connect-returned")
		})
	}
}
