package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
)

// TestCountersContinueAcrossRestart: with a state directory, the coordinator's
// counters continue from its checkpoint when it restarts, the results ingested
// total included (it went back to the few results counted since the restart,
// 4220 → 305, while docs/metrics.md says counters never go backwards). The
// probes keep running across the restart and report to the new coordinator on
// the same address.
func TestCountersContinueAcrossRestart(t *testing.T) {
	grpcPort := freePort(t)
	cfgText := fmt.Sprintf(`
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 100ms, timeout: 80ms}
state: {dir: %q, snapshot_interval: 100ms}
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`, grpcPort, filepath.Join(t.TempDir(), "state"))
	start := func() (*coordinator.Server, context.CancelFunc, <-chan error) {
		cfg, err := config.Parse("restart.yaml", []byte(cfgText))
		if err != nil {
			t.Fatal(err)
		}
		c, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, testLogger(t).With("component", "coordinator"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return c, cancel, done
	}
	coord, stop, coordDone := start()
	probeCtx, stopProbes := context.WithCancel(context.Background())
	probesDone := make(chan error, 2)
	startProbes(t, probeCtx, coord.GRPCAddr().String(), probesDone)
	t.Cleanup(func() { stopComponents(t, stopProbes, probesDone, 2) })

	const ingested = "linkmesh_coordinator_results_ingested_total"
	okSQL := []string{"source", "sql1", "target", "mi1", "result", "ok"}
	before, _ := waitMetrics(t, "http://"+coord.HTTPAddr().String()+"/metrics", 15*time.Second, "50 results ingested", func(s series) bool {
		n, _ := s.one(ingested)
		return n >= 50
	})
	stopComponents(t, stop, coordDone, 1)
	n0, _ := before.one(ingested)
	ok0, _ := before.one("linkmesh_path_probes_total", okSQL...)

	coord, stop, coordDone = start()
	t.Cleanup(func() { stopComponents(t, stop, coordDone, 1) })
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	first, err := scrape(url)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := first.one(ingested); !ok || n < n0 {
		t.Errorf("%s right after the restart: %v (found %v), want at least %v (before the restart)", ingested, n, ok, n0)
	}
	if n, ok := first.one("linkmesh_path_probes_total", okSQL...); !ok || n < ok0 {
		t.Errorf("sql1→mi1 ok attempts right after the restart: %v (found %v), want at least %v", n, ok, ok0)
	}
	// And they grow from there as the probes report to the new coordinator.
	waitMetrics(t, url, 15*time.Second, "ingested growing past its value before the restart", func(s series) bool {
		n, _ := s.one(ingested)
		return n >= n0+20
	})
}

// TestPortRangeLabelsAgree: a port range is one path, labelled with the range
// (port="lo-hi") on the coordinator's linkmesh_path_probes_total and on the
// probe's own linkmesh_probe_attempts_total alike, whatever port each attempt
// tried; the probe never counts fewer attempts than the coordinator received.
func TestPortRangeLabelsAgree(t *testing.T) {
	lo := freePort(t) // nothing listens on lo..lo+3 (refused: the host answered)
	coord, agents := startMesh(t, fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 100ms, timeout: 80ms}
paths:
  - {name: range, from: {site: sql}, to: {address: 127.0.0.1, ports: "%d-%d", sample: 1, site: mi, name: mi-node}}
`, lo, lo+3))
	rng := fmt.Sprintf("%d-%d", lo, lo+3)
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	s, _ := waitMetrics(t, url, 15*time.Second, "10 attempts on the range", func(s series) bool {
		n, _ := s.one("linkmesh_path_probes_total", "target", "mi-node", "port", rng, "result", "refused")
		return n >= 10
	})
	coordCount, _ := s.one("linkmesh_path_probes_total", "target", "mi-node", "port", rng, "result", "refused")
	p, err := scrape("http://" + agents["sql"].MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	// Every series of the range is labelled with the range, whatever result
	// (a loaded machine can make an 80 ms attempt a timeout: a second series,
	// with the same port label).
	all := p.find("linkmesh_probe_attempts_total", "target", "mi-node")
	inRange := p.find("linkmesh_probe_attempts_total", "target", "mi-node", "port", rng)
	probeCount, ok := p.one("linkmesh_probe_attempts_total", "target", "mi-node", "port", rng, "result", "refused")
	if !ok || len(all) != len(inRange) {
		t.Fatalf("probe's attempts on the range: %v; want every series labelled port=%q, one of them result=refused", all, rng)
	}
	if probeCount < coordCount {
		t.Errorf("probe counted %v attempts on the range, the coordinator %v: the probe cannot have made fewer", probeCount, coordCount)
	}
	if n := len(s.find("linkmesh_path_probes_total", "target", "mi-node", "result", "refused")); n != 1 {
		t.Errorf("%d coordinator series for the range's refusals, want 1 (one path)", n)
	}
}
