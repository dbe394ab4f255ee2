//go:build linux

package e2e

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/seeding"
)

// TestLabThroughput: a tbf qdisc limits the router's link toward mi to 20
// Mbit/s; the echo path's burst must read within 15 % of it. The figure is
// TCP payload, so it sits a little under the limit (the limit counts
// Ethernet, IP and TCP headers: 1448 of every 1514 bytes are payload).
func TestLabThroughput(t *testing.T) {
	const rate = 20e6
	lab := netlab.New(t)
	m := newLabMesh(t, lab, `
defaults: {interval: 8s, timeout: 8s}
stale_after: 30s
paths:
  - name: burst
    from: {site: sql}
    to: {site: mi}
    kind: echo
    echo: {mtu_every: 0s, burst: 4MiB, burst_every: 8s, burst_time: 3s}
`)
	unlimited, _ := m.wait(t, 30*time.Second, "a first burst without a limit", func(s series) bool {
		v, ok := throughputBits(s)
		return ok && v > 0
	})
	free, _ := throughputBits(unlimited)
	inj, err := lab.Inject(netlab.Fault{Kind: netlab.Rate, From: "sql", To: "mi", Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer inj.Remove()
	var got []float64
	m.wait(t, 60*time.Second, "three bursts through the 20 Mbit/s limit", func(s series) bool {
		v, ok := throughputBits(s)
		if ok && v < rate*2 && (len(got) == 0 || v != got[len(got)-1]) {
			got = append(got, v)
		}
		return len(got) >= 3
	})
	report(t, "", fmt.Sprintf("throughput, tbf %.0f Mbit/s on the router's link toward mi, 4 MiB bursts (3 s cap): without the limit %.0f Mbit/s", rate/1e6, free/1e6))
	for i, v := range got {
		errPct := 100 * (v - rate) / rate
		report(t, fmt.Sprintf("  burst %d: %.2f Mbit/s (%+.1f %%; %s)", i+1, v/1e6, errPct, seeding.Describe(100*seeding.GB, v)))
		if math.Abs(errPct) > 15 {
			t.Errorf("burst %d: %.2f Mbit/s is %+.1f %% off the %0.f Mbit/s limit; allowed ±15 %%", i+1, v/1e6, errPct, rate/1e6)
		}
	}
}

// throughputBits is sql1 → mi1's latest burst in bits/s (the metric is in
// bytes/s, the base unit).
func throughputBits(s series) (float64, bool) {
	v, ok := kindValue(s, "linkmesh_path_throughput_bytes_per_second", "sql1", "mi1", labResponder, "echo")
	return 8 * v, ok
}
