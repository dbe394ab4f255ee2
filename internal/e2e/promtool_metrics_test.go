package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/demo"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// promtool returns the path of promtool, or skips the test (fails it under
// CI=true, where .ci/run installs it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	const msg = "needs promtool on PATH (install: apt-get install -y prometheus)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this test must not skip", msg)
	}
	t.Skip(msg)
	return ""
}

// checkMetrics pipes the /metrics page at url through `promtool check metrics`
// and fails the test with whatever it reports.
func checkMetrics(t *testing.T, bin, what, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on %s (%d bytes): %v\n%s", what, len(body), err, out)
	}
}

// TestPromtoolCheckMetricsBurst runs a coordinator and two probes on loopback
// with every kind of path the exporter has series for (tcp, echo with a
// path-MTU check and a throughput burst, a port range) and checks the
// coordinator's /metrics and a probe's own with `promtool check metrics`, once
// every optional series (throughput, MTU, jitter) is there.
func TestPromtoolCheckMetricsBurst(t *testing.T) {
	bin := promtool(t)
	closed := freePort(t)
	coord, agents := startMesh(t, fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 200ms, timeout: 150ms}
paths:
  - {from: {site: sql}, to: {site: mi}}
  - name: burst
    from: {site: sql}
    to: {site: mi}
    kind: echo
    interval: 2s
    timeout: 1500ms
    echo: {rounds: 3, mtu_every: 2s, burst: 256KiB, burst_every: 2s, burst_time: 300ms}
  - {name: range, from: {site: mi}, to: {address: 127.0.0.1, ports: "%d-%d", sample: 1, site: sql, name: range}}
`, closed, closed+3))
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	waitMetrics(t, url, 30*time.Second, "a burst, an MTU check, jitter and the range path", func(s series) bool {
		return len(s.find("linkmesh_path_throughput_bytes_per_second", "kind", "echo")) == 1 &&
			len(s.find("linkmesh_path_mtu_bytes")) == 1 && len(s.find("linkmesh_path_jitter_seconds")) >= 1 &&
			len(s.find("linkmesh_path_up", "target", "range")) == 1
	})
	checkMetrics(t, bin, "the coordinator with a burst", url)
	for site, a := range agents {
		checkMetrics(t, bin, "probe "+site+"1", "http://"+a.MetricsAddr().String()+"/metrics")
	}
}

// TestPromtoolCheckMetricsDemo checks the demo's coordinator /metrics (what a
// new user scrapes first) with `promtool check metrics`.
func TestPromtoolCheckMetricsDemo(t *testing.T) {
	bin := promtool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan *coordinator.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Interval: 200 * time.Millisecond, Every: time.Hour, Out: io.Discard,
			// The demo's gossip may log a moment after Run returns: not through t.
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Started: func(s *coordinator.Server) { started <- s }})
	}()
	var coord *coordinator.Server
	select {
	case coord = <-started:
	case err := <-done:
		t.Fatalf("the demo ended before it served: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not start within 30 s")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("demo: %v", err)
		}
	}()
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	waitMetrics(t, url, 30*time.Second, "the demo's four paths with an MTU check", func(s series) bool {
		return len(s.find("linkmesh_path_up")) == 4 && len(s.find("linkmesh_path_mtu_bytes")) >= 1
	})
	checkMetrics(t, bin, "the demo's coordinator", url)
}

// meshKey is the in-process meshes' key (the echo hello needs one).
var meshKey = bytes.Repeat([]byte{7}, 32)

// startMesh runs a coordinator with the config text and two probes (sql1 and
// mi1, each with a responder and its own /metrics) on loopback until the end of
// the test.
func startMesh(t *testing.T, cfgText string) (*coordinator.Server, map[string]*probe.Agent) {
	t.Helper()
	cfg, err := config.Parse("mesh.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true, MeshKey: meshKey}, testLogger(t).With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	go func() { done <- coord.Run(ctx) }()
	t.Cleanup(func() { stopComponents(t, cancel, done, 3) })
	return coord, startProbes(t, ctx, coord.GRPCAddr().String(), done)
}

// startProbes starts sql1 and mi1 reporting to the coordinator at addr until
// ctx is done, each sending its end on done.
func startProbes(t *testing.T, ctx context.Context, addr string, done chan<- error) map[string]*probe.Agent {
	t.Helper()
	agents := map[string]*probe.Agent{}
	for _, site := range []string{"sql", "mi"} {
		a, err := probe.New(probe.Config{
			Name: site + "1", Site: site,
			Coordinators: []string{addr},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			Metrics:      "127.0.0.1:0",
			BufferSize:   10000,
			MeshKey:      meshKey,
		}, testLogger(t).With("probe", site+"1"))
		if err != nil {
			t.Fatal(err)
		}
		agents[site] = a
		go func() { done <- a.Run(ctx) }()
	}
	return agents
}
