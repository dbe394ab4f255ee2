package echo

import (
	"context"
	"testing"
	"time"
)

// BenchmarkProbe measures one echo attempt (connect, hello, 10 round trips)
// against a responder on loopback: the probe's own cost per attempt.
func BenchmarkProbe(b *testing.B) {
	addr := startResponder(b, key)
	p := Prober{Key: key}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if res := p.Probe(ctx, addr, Options{Rounds: 10}); res.Code.String() != "ok" {
			b.Fatalf("attempt: %s %s", res.Code, res.Detail)
		}
		cancel()
	}
}

// BenchmarkBurst measures a 64 MiB burst on loopback: the highest throughput
// one echo connection reports on this machine.
func BenchmarkBurst(b *testing.B) {
	addr := startResponder(b, key)
	p := Prober{Key: key}
	var rate float64
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := p.Probe(ctx, addr, Options{Rounds: 1, BurstBytes: 64 << 20, BurstTime: 10 * time.Second})
		cancel()
		if res.Throughput <= 0 {
			b.Fatalf("no throughput: %s", res.Detail)
		}
		rate = res.Throughput
	}
	b.ReportMetric(rate/1e9, "Gbit/s")
}
