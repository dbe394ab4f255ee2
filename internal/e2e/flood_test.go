//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Flood sizes: bounded, and chosen to exceed the coordinator's limits in this
// test (max_connections 1000, 4 connections and 4 plan streams per probe).
const (
	floodIdle      = 3000 // connections that never send a byte
	floodJunk      = 2000 // connections that send 4 KiB of random bytes
	floodRogueConn = 8    // connections with a valid certificate of probe "rogue"
	floodStreams   = 250  // plan streams per rogue connection, never read
	floodOversize  = 20   // 3 MiB messages (the limit is 2 MiB)
	floodBatches   = 200  // valid 1000-result batches, as fast as they go
)

// TestFloodHonestProbesStillLand runs the real coordinator binary on loopback
// (mTLS, max_connections 1000) with two honest in-process probes, and floods it:
// idle and junk connections, and an authenticated rogue probe opening more
// connections and plan streams than allowed, never reading them, sending
// oversized messages and full batches as fast as it can. The honest probes'
// results keep landing, and the coordinator's memory stays bounded; the figures
// are reported (docs/benchmarks.md).
func TestFloodHonestProbesStillLand(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test: skipped with -short")
	}
	bin := netlab.BuildLinkmesh(t)
	p := newPKI(t, "127.0.0.1")
	grpcPort, httpPort := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "coordinator.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
defaults: {interval: 100ms, timeout: 80ms}
tls: {ca: %q, cert: %q, key: %q}
limits: {max_connections: 1000}
gossip: {disabled: true}
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`, grpcPort, httpPort, p.server.CA, p.server.Cert, p.server.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cmd := exec.Command(bin, "coordinator", "--config", cfg, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			t.Errorf("coordinator (pid %d) did not stop within 10 s; killing it", cmd.Process.Pid)
			_ = cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			t.Logf("coordinator log (last 4 KiB):\n%s", lastBytes(logs.String(), 4096))
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", grpcPort)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for _, site := range []string{"sql", "mi"} {
		name := site + "1"
		src, err := tlsconf.NewSource(p.probe(t, name), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		a, err := probe.New(probe.Config{Name: name, Site: site, Coordinators: []string{addr},
			Creds: tlsconf.ClientCredentials(src, ""), Responder: "127.0.0.1:0", BufferSize: 100000}, testLogger(t).With("probe", name))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Run(ctx) }()
	}
	honest := func(s series) float64 {
		return sumMatching(s, "linkmesh_path_probes_total", "source", "sql1") + sumMatching(s, "linkmesh_path_probes_total", "source", "mi1")
	}
	base, _ := waitMetrics(t, metricsURL, 20*time.Second, "honest probes reporting", func(s series) bool { return honest(s) >= 40 })
	mem := func(s series) (rss, heap float64) {
		rss, _ = s.one("process_resident_memory_bytes")
		heap, _ = s.one("go_memstats_heap_inuse_bytes")
		return
	}
	rss0, heap0 := mem(base)

	// Sample the coordinator's memory while the flood runs.
	var peakRSS, peakHeap float64
	sampleDone := make(chan struct{})
	floodCtx, stopFlood := context.WithCancel(ctx)
	go func() {
		defer close(sampleDone)
		for floodCtx.Err() == nil {
			if s, err := scrape(metricsURL); err == nil {
				r, h := mem(s)
				peakRSS, peakHeap = max(peakRSS, r), max(peakHeap, h)
			}
			select {
			case <-floodCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	idle := openIdle(t, addr, floodIdle)
	sendJunk(addr, floodJunk)
	rogue := p.probe(t, "rogue")
	refusedCalls := runRogue(t, addr, rogue)
	during, _ := waitMetrics(t, metricsURL, 20*time.Second, "honest results landing during the flood", func(s series) bool {
		return honest(s) >= honest(base)+40
	})
	floodTime := time.Since(start)
	stopFlood()
	<-sampleDone
	for _, c := range idle {
		c.Close()
	}
	after, _ := waitMetrics(t, metricsURL, 20*time.Second, "honest probes still up after the flood", func(s series) bool {
		a, _ := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
		b, _ := s.one("linkmesh_path_up", "source", "mi1", "target", "sql1")
		return a == 1 && b == 1 && honest(s) > honest(during)
	})
	rss1, heap1 := mem(after)
	if got := sumMatching(after, "linkmesh_path_probes_total", "source", "rogue"); got > float64(floodBatches*1000) {
		t.Errorf("rogue results counted: %v, more than it sent", got)
	}
	const MiB = 1 << 20
	if peakRSS > 512*MiB {
		t.Errorf("coordinator RSS peaked at %.0f MiB during the flood, want ≤ 512 MiB", peakRSS/MiB)
	}
	var refused []string
	for k, v := range after.find("linkmesh_coordinator_refused_total") {
		if v > 0 {
			refused = append(refused, fmt.Sprintf("%s=%v", strings.TrimSuffix(strings.TrimPrefix(k, `linkmesh_coordinator_refused_total{reason="`), `"}`), v))
		}
	}
	report(t, "",
		fmt.Sprintf("flood (%d idle + %d junk connections, rogue probe: %d connections × %d unread plan streams, %d oversized messages, %d full batches; max_connections 1000) for %v:",
			floodIdle, floodJunk, floodRogueConn, floodStreams, floodOversize, floodBatches, floodTime.Round(100*time.Millisecond)),
		fmt.Sprintf("  coordinator RSS %.1f MiB before, peak %.1f MiB, %.1f MiB after; Go heap in use %.1f → peak %.1f → %.1f MiB",
			rss0/MiB, peakRSS/MiB, rss1/MiB, heap0/MiB, peakHeap/MiB, heap1/MiB),
		fmt.Sprintf("  honest results counted during the flood: %v; rogue calls refused: %d; refusals by reason: %s",
			honest(during)-honest(base), refusedCalls, strings.Join(refused, " ")))
}

// openIdle opens n TCP connections that never send anything.
func openIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			continue // refused or backlog full: that is the point
		}
		out = append(out, c)
	}
	return out
}

// sendJunk opens n connections, each writing 4 KiB of random bytes, 32 at a time.
func sendJunk(addr string, n int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			junk := make([]byte, 4096)
			rand.Read(junk)
			c.SetDeadline(time.Now().Add(2 * time.Second))
			c.Write(junk)
			c.Read(junk[:1])
		}()
	}
	wg.Wait()
}

// runRogue acts as an authenticated but hostile probe and returns how many of
// its calls were refused.
func runRogue(t *testing.T, addr string, f tlsconf.Files) int {
	t.Helper()
	src, err := tlsconf.NewSource(f, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var mu sync.Mutex
	refused := 0
	fail := func(err error) {
		if err != nil {
			mu.Lock()
			refused++
			mu.Unlock()
		}
	}
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for i := range floodRogueConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(tlsconf.ClientCredentials(src, "")))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		api := linkmeshv1.NewMeshServiceClient(conn)
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = api.Register(cctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "rogue", Site: "sql", Epoch: 1}})
		ccancel()
		fail(err)
		for range floodStreams {
			wg.Add(1)
			go func() { // beyond the server's 8 streams per connection, the client waits for quota
				defer wg.Done()
				sctx, scancel := context.WithTimeout(streamCtx, 5*time.Second)
				defer scancel()
				st, err := api.WatchPlan(sctx, &linkmeshv1.WatchPlanRequest{Probe: "rogue"})
				if err == nil {
					_, err = st.Header() // the refusal arrives with the first response; never Recv
					<-sctx.Done()
				}
				fail(err)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			huge := &linkmeshv1.ReportRequest{Probe: "rogue", Epoch: 1, Results: []*linkmeshv1.Result{{Seq: 1, Detail: strings.Repeat("x", 3<<20)}}}
			for j := range floodOversize / floodRogueConn {
				_ = j
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := api.Report(cctx, huge)
				ccancel()
				fail(err)
			}
			seq := uint64(i*floodBatches*1000 + 1)
			for range floodBatches / floodRogueConn {
				batch := make([]*linkmeshv1.Result, 1000)
				for k := range batch {
					batch[k] = &linkmeshv1.Result{Seq: seq, Time: timestamppb.Now(), Kind: linkmeshv1.Kind_KIND_TCP,
						Target: "victim", TargetSite: "mi", Port: 1, Code: linkmeshv1.Code_CODE_OK, Detail: strings.Repeat("y", 400)}
					seq++
				}
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := api.Report(cctx, &linkmeshv1.ReportRequest{Probe: "rogue", Epoch: 1, Results: batch})
				ccancel()
				fail(err)
			}
		}()
	}
	wg.Wait()
	return refused
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// sumMatching sums the series of name whose labels include every pair.
func sumMatching(s series, name string, kv ...string) float64 {
	var sum float64
	for _, v := range s.find(name, kv...) {
		sum += v
	}
	return sum
}
