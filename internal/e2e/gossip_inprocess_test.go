package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// TestMeshWithGossipInProcess: a probe that knows only a gossip seed finds the
// coordinator through gossip; when a probe stops, its paths (and the paths to its
// responder) become unknown — no linkmesh_path_up sample — never 0, and
// linkmesh_probe_up reads 0.
func TestMeshWithGossipInProcess(t *testing.T) {
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("gossip.yaml", []byte(`
name: c1
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {bind: "127.0.0.1:0", profile: local}
defaults: {interval: 200ms, timeout: 150ms}
stale_after: 10s
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`))
	if err != nil {
		t.Fatal(err)
	}
	logger := testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	coord, err := coordinator.New(cfg, coordinator.Options{MeshKey: key}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	coordDone := make(chan error, 1)
	go func() { coordDone <- coord.Run(ctx) }()
	defer func() { cancel(); <-coordDone }()

	start := func(name, site string, static bool) (context.CancelFunc, <-chan error) {
		pc := probe.Config{
			Name: name, Site: site, Creds: insecure.NewCredentials(), Responder: "127.0.0.1:0", BufferSize: 1000,
			Gossip:  &probe.GossipConfig{Bind: "127.0.0.1:0", Join: []string{coord.GossipAddr()}, Profile: "local"},
			MeshKey: key,
		}
		if static {
			pc.Coordinators = []string{coord.GRPCAddr().String()}
		}
		a, err := probe.New(pc, logger.With("probe", name))
		if err != nil {
			t.Fatal(err)
		}
		pctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(pctx) }()
		return stop, done
	}
	stopSQL, sqlDone := start("sql1", "sql", true)
	defer func() { stopSQL(); <-sqlDone }()
	stopMI, miDone := start("mi1", "mi", false) // finds the coordinator through gossip only

	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	waitMetrics(t, url, 20*time.Second, "both directions up, mi1 found the coordinator through gossip", func(s series) bool {
		a, okA := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
		b, okB := s.one("linkmesh_path_up", "source", "mi1", "target", "sql1")
		g, okG := s.one("linkmesh_probe_gossip_alive", "probe", "mi1")
		return okA && okB && okG && a == 1 && b == 1 && g == 1
	})
	waitMetrics(t, url, 20*time.Second, "gossip round trips exported, the coordinator's and the probes' (sent with their reports)", func(s series) bool {
		return len(s.find("linkmesh_member_rtt_seconds", "source", "coordinator:c1")) > 0 &&
			len(s.find("linkmesh_member_rtt_seconds", "source", "sql1")) > 0
	})

	stopMI()
	if err := <-miDone; err != nil {
		t.Fatalf("mi1 Run: %v", err)
	}
	s, took := waitMetrics(t, url, 10*time.Second, "mi1 down and its paths unknown", func(s series) bool {
		up, ok := s.one("linkmesh_probe_up", "probe", "mi1")
		_, fromMI := s.one("linkmesh_path_up", "source", "mi1")
		_, toMI := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
		return ok && up == 0 && !fromMI && !toMI
	})
	t.Logf("stopped probe seen down, its paths unknown, after %v", took)
	if g, ok := s.one("linkmesh_probe_gossip_alive", "probe", "mi1"); ok && g != 0 {
		t.Errorf("linkmesh_probe_gossip_alive{probe=mi1} = %v after it left, want 0", g)
	}
	if n, _ := s.one("linkmesh_path_probes_total", "source", "sql1", "target", "mi1", "result", "ok"); n < 1 {
		t.Errorf("the sql1→mi1 counters must stay after it turned unknown; ok count %v", n)
	}
}
