package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// sum adds up every series of name whose labels include kv.
func (s series) sum(name string, kv ...string) float64 {
	var total float64
	for _, v := range s.find(name, kv...) {
		total += v
	}
	return total
}

// TestSpoolDamageCountedByCoordinator runs a real coordinator and two probes on
// loopback; the sql probe keeps a spool. The probe is stopped, its spool
// damaged (a flipped byte in the middle of the active segment; a torn last
// record), and started again: the damage is counted on the probe's /metrics,
// and every attempt the restarted probe makes is counted by the coordinator.
// Before, the probe numbered on below the coordinator's cursor after such
// damage, and the coordinator skipped its next results as replays while
// probe_up and path_up stayed 1.
func TestSpoolDamageCountedByCoordinator(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, seg string)
	}{
		{"flipped_byte_mid_segment", func(t *testing.T, seg string) {
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(seg, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"torn_last_record", func(t *testing.T, seg string) {
			fi, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(seg, fi.Size()-5); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testSpoolDamage(t, tc.damage) })
	}
}

func testSpoolDamage(t *testing.T, damage func(t *testing.T, seg string)) {
	cfg, err := config.Parse("e2e.yaml", []byte(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 200ms, timeout: 150ms}
paths:
  - from: {site: sql}
    to: {site: mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- coord.Run(ctx) }()
	newProbe := func(name, site, spool string) *probe.Agent {
		a, err := probe.New(probe.Config{
			Name: name, Site: site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			Metrics:      "127.0.0.1:0",
			BufferSize:   1000,
			SpoolDir:     spool,
		}, logger.With("probe", name))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	mi := newProbe("mi1", "mi", "")
	go func() { done <- mi.Run(ctx) }()
	t.Cleanup(func() { stopComponents(t, cancel, done, 2) })

	// The sql probe runs under its own context, so it can be stopped alone.
	spool := t.TempDir()
	runSQL := func() (*probe.Agent, func()) {
		a := newProbe("sql1", "sql", spool)
		sctx, stop := context.WithCancel(ctx)
		sdone := make(chan error, 1)
		go func() { sdone <- a.Run(sctx) }()
		return a, func() { stopComponents(t, stop, sdone, 1) }
	}
	coordURL := "http://" + coord.HTTPAddr().String() + "/metrics"
	_, stopSQL := runSQL()
	waitMetrics(t, coordURL, 20*time.Second, "20 results of sql1 counted", func(s series) bool {
		return s.sum("linkmesh_path_probes_total", "source", "sql1") >= 20
	})
	stopSQL()
	s0, err := scrape(coordURL)
	if err != nil {
		t.Fatal(err)
	}
	before := s0.sum("linkmesh_path_probes_total", "source", "sql1")

	segs, _ := filepath.Glob(filepath.Join(spool, "seg-*.log"))
	if len(segs) == 0 {
		t.Fatal("the spool holds no segment")
	}
	sort.Strings(segs)
	damage(t, segs[len(segs)-1])

	a, stopSQL := runSQL()
	defer stopSQL()
	probeURL := "http://" + a.MetricsAddr().String() + "/metrics"
	ps, err := scrape(probeURL)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := ps.one("linkmesh_probe_spool_damaged_records_total"); !ok || d < 1 {
		t.Errorf("linkmesh_probe_spool_damaged_records_total: got %v (present %v), want ≥ 1", d, ok)
	}
	// Every attempt the restarted probe made (scraped first) is counted by the
	// coordinator (scraped after): at some scrape none is in flight.
	var attempts, counted, missing float64
	if !waitfor.Poll(20*time.Second, func() bool {
		ps, perr := scrape(probeURL)
		cs, cerr := scrape(coordURL)
		if perr != nil || cerr != nil {
			return false
		}
		attempts = ps.sum("linkmesh_probe_attempts_total")
		counted = cs.sum("linkmesh_path_probes_total", "source", "sql1") - before
		missing = cs.sum("linkmesh_probe_missing_results_total", "probe", "sql1")
		return attempts >= 15 && counted >= attempts
	}) {
		t.Fatalf("after 20 s: the restarted probe made %v attempts, the coordinator counted %v of sql1's results since; want every attempt counted", attempts, counted)
	}
	// After damage at the end of the spool the probe skips to above its fence:
	// the coordinator counts the skipped numbers as missing (at most 1,023 more
	// than were really lost).
	t.Logf("after the damage: %v attempts made, %v results counted by the coordinator; linkmesh_probe_missing_results_total %v", attempts, counted, missing)
}
