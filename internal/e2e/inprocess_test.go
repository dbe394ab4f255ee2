package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// freePort returns a loopback port nothing listens on (listen, note, close).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// stopComponents cancels in-process components and waits for n of them to end
// on done, reporting errors and any that take longer than 10 s.
func stopComponents(t *testing.T, cancel context.CancelFunc, done <-chan error, n int) {
	t.Helper()
	cancel()
	for range n {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("component ended with error: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("a component did not stop within 10 s of cancel")
			return
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// TestEndToEndInProcess runs a coordinator and two probes on loopback with real
// gRPC and real sockets: sql → mi's responder must read ok (both directions), and
// sql → a closed port must read refused, on the coordinator's /metrics.
func TestEndToEndInProcess(t *testing.T) {
	closed := freePort(t)
	cfg, err := config.Parse("e2e.yaml", fmt.Appendf(nil, `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 200ms, timeout: 150ms}
paths:
  - from: {site: sql}
    to: {site: mi}
  - from: {site: mi}
    to: {site: sql}
  - name: closed
    from: {site: sql}
    to: {address: 127.0.0.1, port: %d, site: mi, name: nothing-listens}
`, closed))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() { done <- coord.Run(ctx) }()
	for _, site := range []string{"sql", "mi"} {
		a, err := probe.New(probe.Config{
			Name: site + "1", Site: site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			BufferSize:   1000,
		}, logger.With("probe", site+"1"))
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- a.Run(ctx) }()
	}
	t.Cleanup(func() { stopComponents(t, cancel, done, 3) })

	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	port := strconv.Itoa(closed)
	s, _ := waitMetrics(t, url, 10*time.Second, "sql1→mi1 and mi1→sql1 up, sql1→closed port down", func(s series) bool {
		a, okA := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
		b, okB := s.one("linkmesh_path_up", "source", "mi1", "target", "sql1")
		c, okC := s.one("linkmesh_path_up", "source", "sql1", "target", "nothing-listens")
		return okA && okB && okC && a == 1 && b == 1 && c == 0
	})
	refused, _ := s.one("linkmesh_path_probes_total", "source", "sql1", "target", "nothing-listens", "port", port, "result", "refused")
	okCount, _ := s.one("linkmesh_path_probes_total", "source", "sql1", "target", "nothing-listens", "port", port, "result", "ok")
	if refused < 1 || okCount != 0 {
		t.Errorf("closed port: got refused=%v ok=%v, want refused ≥ 1 and ok = 0", refused, okCount)
	}
	for src, dst := range map[string]string{"sql1": "mi1", "mi1": "sql1"} {
		if v, ok := s.one("linkmesh_path_rtt_p50_seconds", "source", src, "target", dst, "kind", "tcp"); !ok || v <= 0 {
			t.Errorf("%s: median RTT %v (found %v), want > 0", src, v, ok)
		}
		if up, ok := s.one("linkmesh_probe_up", "probe", src); !ok || up != 1 {
			t.Errorf("linkmesh_probe_up{probe=%q}: got %v (found %v), want 1", src, up, ok)
		}
	}
	want := key("linkmesh_path_up", "source", "sql1", "source_site", "sql", "target", "nothing-listens", "target_site", "mi", "port", port, "kind", "tcp")
	if v, ok := s[want]; !ok || v != 0 {
		t.Errorf("%s: got %v (present %v), want 0; the full label set of DESIGN §6 must be exported", want, v, ok)
	}
}
