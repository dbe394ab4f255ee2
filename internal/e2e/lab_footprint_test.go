//go:build linux

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// footprintWindow is how long TestLabProbeFootprint measures each size.
const footprintWindow = 30 * time.Second

// TestLabProbeFootprint measures what a probe process costs: the linkmesh
// binary as a probe in the lab's sql namespace, measuring N tcp targets (N
// listeners in mi, accepting and closing) once a second each, reporting to a
// coordinator in the router. Over 30 s after every path has a result it
// reads the probe's CPU time (utime + stime, /proc/PID/stat) and its resident
// set (VmRSS, and the peak VmHWM, /proc/PID/status), and reports them with
// the attempts the coordinator counted. It asserts that the attempts were made
// (at least 80 % of N × 30); the figures are printed, not asserted (a shared
// machine's noise is no verdict): docs/benchmarks.md#probe-footprint.
//
//	sudo go test -run TestLabProbeFootprint -v ./internal/e2e/
func TestLabProbeFootprint(t *testing.T) {
	for _, n := range []int{50, 500} {
		t.Run(fmt.Sprintf("targets=%d", n), func(t *testing.T) {
			lab := netlab.New(t)
			mi := lab.MI()
			var policy strings.Builder
			policy.WriteString("gossip: {disabled: true}\ndefaults: {interval: 1s, timeout: 1s}\npaths:\n")
			for i := range n {
				port := 20000 + i
				serveAndClose(t, mi, port)
				fmt.Fprintf(&policy, "  - {name: t%03d, from: {site: sql}, to: {address: %q, port: %d, site: mi, name: t%03d}}\n",
					i, mi.AddrToward(lab.SQL()).String(), port, i)
			}
			m := startLabMeshSites(t, lab, policy.String(), map[string][]string{"sql": {"--log-level", "info"}}, "sql")
			pid := m.probes["sql"].Process.Pid
			m.wait(t, 60*time.Second, fmt.Sprintf("a result on all %d paths", n), func(s series) bool {
				return len(s.find("linkmesh_path_up", "source", "sql1")) == n
			})
			time.Sleep(2 * time.Second) // a steady state: past the first round of connections
			before := m.scrape(t)
			cpu0, err := procCPU(pid)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			time.Sleep(footprintWindow)
			cpu1, err := procCPU(pid)
			if err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(start)
			after := m.scrape(t)
			mem, err := procMemory(pid)
			if err != nil {
				t.Fatal(err)
			}
			attempts := after.sum("linkmesh_path_probes_total", "source", "sql1") - before.sum("linkmesh_path_probes_total", "source", "sql1")
			ok := after.sum("linkmesh_path_probes_total", "source", "sql1", "result", "ok") - before.sum("linkmesh_path_probes_total", "source", "sql1", "result", "ok")
			share := float64(cpu1-cpu0) / float64(elapsed)
			mib := func(b int64) float64 { return float64(b) / (1 << 20) }
			report(t, fmt.Sprintf("probe footprint, %d tcp targets × 1/s: %.1f %% of a core (%v CPU in %v), RSS %.1f MiB (%.1f anonymous, %.1f file; peak %.1f), %.0f attempts counted (%.0f ok), %.0f µs CPU per attempt",
				n, 100*share, (cpu1-cpu0).Round(time.Millisecond), elapsed.Round(time.Millisecond),
				mib(mem.rss), mib(mem.anon), mib(mem.file), mib(mem.peak), attempts, ok, float64((cpu1-cpu0).Microseconds())/max(attempts, 1)))
			// The coordinator counts what arrived by the last report: up to
			// 10 s of attempts may still be on their way at either end.
			if want := 0.8 * float64(n) * footprintWindow.Seconds(); attempts < want {
				t.Errorf("%.0f attempts counted in %v, want at least %.0f: the probe did not keep its schedule, so the figures above do not describe %d targets × 1/s", attempts, elapsed, want, n)
			}
			if ok < 0.95*attempts {
				t.Errorf("%.0f of %.0f attempts ok: the lab's targets failed, so the figures are not those of a healthy mesh", ok, attempts)
			}
		})
	}
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
