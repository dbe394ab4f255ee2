//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// footprintWindow is how long TestLabProbeFootprint measures each tool.
const footprintWindow = 30 * time.Second

// TestLabProbeFootprint measures what a probe process costs, side by side
// with blackbox_exporter doing the same work: N tcp targets (N listeners in
// mi, accepting and closing) probed once a second each from the lab's sql
// namespace.
//
//   - blackbox_exporter (Debian's prometheus-blackbox-exporter, module
//     tcp_connect) in sql, driven by this test as Prometheus would: one
//     /probe request per target per second, each at its own phase;
//   - then the linkmesh binary as a probe in sql, reporting to a coordinator
//     in the router, with one rule per target at interval 1s.
//
// Over 30 s each, after every target has been probed, it reads the process's
// CPU time (utime + stime, /proc/PID/stat) and resident set (VmRSS with its
// anonymous and file-backed parts, and the peak VmHWM, /proc/PID/status), and
// reports both and their ratio. Neither the driver (Prometheus's part) nor
// the coordinator is counted. It asserts that the attempts were made (at
// least 80 % of N × 30, and 95 % of them successful); the figures are
// printed, not asserted (a shared machine's noise is no verdict):
// docs/benchmarks.md#probe-footprint.
//
//	sudo go test -run TestLabProbeFootprint -v ./internal/e2e/
func TestLabProbeFootprint(t *testing.T) {
	bb := blackboxBinary(t)
	for _, n := range []int{50, 500} {
		t.Run(fmt.Sprintf("targets=%d", n), func(t *testing.T) {
			lab := netlab.New(t)
			mi := lab.MI()
			addr := mi.AddrToward(lab.SQL()).String()
			var policy strings.Builder
			policy.WriteString("gossip: {disabled: true}\ndefaults: {interval: 1s, timeout: 1s}\npaths:\n")
			targets := make([]string, n)
			for i := range n {
				port := 20000 + i
				serveAndClose(t, mi, port)
				targets[i] = net.JoinHostPort(addr, fmt.Sprint(port))
				fmt.Fprintf(&policy, "  - {name: t%03d, from: {site: sql}, to: {address: %q, port: %d, site: mi, name: t%03d}}\n", i, addr, port, i)
			}

			bbFig := blackboxFootprint(t, lab, bb, targets)
			report(t, bbFig.line(fmt.Sprintf("blackbox_exporter, %d tcp targets × 1/s", n)))

			m := startLabMeshSites(t, lab, policy.String(), map[string][]string{"sql": {"--log-level", "info"}}, "sql")
			pid := m.probes["sql"].Process.Pid
			m.wait(t, 60*time.Second, fmt.Sprintf("a result on all %d paths", n), func(s series) bool {
				return len(s.find("linkmesh_path_up", "source", "sql1")) == n
			})
			before := m.scrape(t)
			lmFig := measureFootprint(t, pid, func() {})
			after := m.scrape(t)
			lmFig.attempts = after.sum("linkmesh_path_probes_total", "source", "sql1") - before.sum("linkmesh_path_probes_total", "source", "sql1")
			lmFig.ok = after.sum("linkmesh_path_probes_total", "source", "sql1", "result", "ok") - before.sum("linkmesh_path_probes_total", "source", "sql1", "result", "ok")
			report(t, lmFig.line(fmt.Sprintf("linkmesh probe, %d tcp targets × 1/s", n)),
				fmt.Sprintf("ratio blackbox_exporter / linkmesh at %d targets: CPU %.1f×, RSS %.1f×", n,
					bbFig.share()/max(lmFig.share(), 1e-9), float64(bbFig.mem.rss)/float64(max(lmFig.mem.rss, 1))))
			// The coordinator counts what arrived by the last report: up to
			// 10 s of attempts may still be on their way at either end.
			for _, f := range []struct {
				name string
				fig  footprint
			}{{"blackbox_exporter", bbFig}, {"linkmesh", lmFig}} {
				if want := 0.8 * float64(n) * footprintWindow.Seconds(); f.fig.attempts < want {
					t.Errorf("%s: %.0f attempts in %v, want at least %.0f: it did not keep the schedule, so its figures do not describe %d targets × 1/s", f.name, f.fig.attempts, f.fig.elapsed, want, n)
				}
				if f.fig.ok < 0.95*f.fig.attempts {
					t.Errorf("%s: %.0f of %.0f attempts ok: the lab's targets failed, so the figures are not those of a healthy mesh", f.name, f.fig.ok, f.fig.attempts)
				}
			}
		})
	}
}

// footprint is what one tool cost over a measurement window.
type footprint struct {
	cpu, elapsed time.Duration
	mem          memory
	attempts, ok float64
}

func (f footprint) share() float64 { return float64(f.cpu) / float64(f.elapsed) }

func (f footprint) line(what string) string {
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	return fmt.Sprintf("%s: %.1f %% of a core (%v CPU in %v), RSS %.1f MiB (%.1f anonymous, %.1f file; peak %.1f), %.0f attempts (%.0f ok), %.0f µs CPU per attempt",
		what, 100*f.share(), f.cpu.Round(time.Millisecond), f.elapsed.Round(time.Millisecond),
		mib(f.mem.rss), mib(f.mem.anon), mib(f.mem.file), mib(f.mem.peak), f.attempts, f.ok, float64(f.cpu.Microseconds())/max(f.attempts, 1))
}

// measureFootprint settles for 2 s (past the first round of connections),
// then measures process pid's CPU over footprintWindow and its memory at the
// end; during is called right after the window opens.
func measureFootprint(t *testing.T, pid int, during func()) footprint {
	t.Helper()
	time.Sleep(2 * time.Second) // a steady state: the measurement starts after it
	cpu0, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	during()
	time.Sleep(time.Until(start.Add(footprintWindow))) // the measurement window itself
	cpu1, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	f := footprint{cpu: cpu1 - cpu0, elapsed: time.Since(start)}
	if f.mem, err = procMemory(pid); err != nil {
		t.Fatal(err)
	}
	return f
}

// blackboxBinary finds Debian's prometheus-blackbox-exporter (or
// blackbox_exporter). It skips the test when it is missing, or fails it under
// CI=true, where .ci/run installs it.
func blackboxBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-blackbox-exporter", "blackbox_exporter"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "needs prometheus-blackbox-exporter on PATH (install: apt-get install -y prometheus-blackbox-exporter)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this test must not skip", msg)
	}
	t.Skip(msg)
	return ""
}

// blackboxPort is where blackbox_exporter listens, on its host's loopback.
const blackboxPort = 9115

// blackbox is blackbox_exporter running in a lab host.
type blackbox struct {
	p      *labProc
	client *http.Client // dials in the host's namespace
	base   string
}

// startBlackbox starts blackbox_exporter in h with one module, tcp_connect
// (2 s timeout), and waits until it answers. Cleanup stops it if stop did not.
func startBlackbox(t *testing.T, h *netlab.Host, bin string, conns int) *blackbox {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "blackbox.yml")
	if err := os.WriteFile(cfg, []byte("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &blackbox{
		p:      startLabProc(t, h, "blackbox_exporter", bin, "--config.file="+cfg, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", blackboxPort)),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: h.DialContext, MaxIdleConnsPerHost: conns}},
		base:   fmt.Sprintf("http://127.0.0.1:%d", blackboxPort),
	}
	waitHTTPOK(t, b.client, b.base+"/-/healthy", 15*time.Second, "blackbox_exporter")
	return b
}

// stop ends blackbox_exporter (SIGTERM) and waits for it.
func (b *blackbox) stop() {
	_ = b.p.cmd.Process.Signal(syscall.SIGTERM)
	<-b.p.done
}

// drive asks blackbox_exporter to probe every target once a second, each at
// its own phase over the second, as Prometheus would, until ctx ends (the
// caller bounds it); answer gets each answer's body. It returns when every
// target's loop has ended.
func (b *blackbox) drive(ctx context.Context, targets []string, answer func(body []byte)) {
	var wg sync.WaitGroup
	for i, target := range targets {
		wg.Go(func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * time.Second / time.Duration(len(targets))):
			}
			for {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/probe?module=tcp_connect&target="+url.QueryEscape(target), nil)
				if err != nil {
					return
				}
				if resp, err := b.client.Do(req); err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if ctx.Err() == nil {
						answer(body)
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
}

// probeSucceeded reports whether a blackbox_exporter answer says probe_success 1.
func probeSucceeded(body []byte) bool {
	return strings.Contains(string(body), "\nprobe_success 1\n")
}

// blackboxFootprint runs blackbox_exporter in sql and measures it while
// driving it at one /probe per target per second, then stops it.
func blackboxFootprint(t *testing.T, lab *netlab.Lab, bin string, targets []string) footprint {
	t.Helper()
	b := startBlackbox(t, lab.SQL(), bin, len(targets))
	defer b.stop()
	var attempts, ok atomic.Int64
	// The driver stops by itself after the settling, the window and a margin.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second+footprintWindow+2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		b.drive(ctx, targets, func(body []byte) {
			attempts.Add(1)
			if probeSucceeded(body) {
				ok.Add(1)
			}
		})
	})
	var a0, ok0 int64
	f := measureFootprint(t, b.p.cmd.Process.Pid, func() { a0, ok0 = attempts.Load(), ok.Load() })
	f.attempts, f.ok = float64(attempts.Load()-a0), float64(ok.Load()-ok0)
	cancel()
	wg.Wait()
	return f
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times
// (100 on every Linux architecture Go supports).
const clockTicks = 100

// procCPU is the CPU time (user + system) a process has used.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: the fields after it start
	// after its closing parenthesis, at field 3 (state).
	_, rest, found := strings.Cut(string(data), ") ")
	if !found {
		return 0, fmt.Errorf("/proc/%d/stat: no command name in %q", pid, data)
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime (fields 14, 15)
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// memory is a process's resident set in bytes: now, its anonymous (heap,
// stacks) and file-backed (the binary's pages) parts, and the peak.
type memory struct{ rss, anon, file, peak int64 }

// procMemory reads a process's resident set from /proc/PID/status.
func procMemory(pid int) (memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	fields := map[string]*int64{"VmRSS": &m.rss, "RssAnon": &m.anon, "RssFile": &m.file, "VmHWM": &m.peak}
	for line := range strings.Lines(string(data)) {
		key, value, _ := strings.Cut(line, ":")
		if dst, ok := fields[key]; ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err != nil {
				return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
			}
			*dst = kb << 10
		}
	}
	if m.rss == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, nil
}
