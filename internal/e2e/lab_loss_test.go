//go:build linux

package e2e

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// lossPolicy measures tcp (to the plain listener on 5022) and echo (to the
// responder) both ways between sql and mi. The tcp timeout is far below the
// first SYN retransmission on purpose: the loss figure counts the first SYN
// exchange of each attempt, so it must not depend on the timeout.
const lossPolicy = `
defaults: {interval: 250ms, timeout: 250ms}
stale_after: 30s
paths:
  - {name: tcp-sm, from: {site: sql}, to: {site: mi, port: 5022}}
  - {name: tcp-ms, from: {site: mi}, to: {site: sql, port: 5022}}
  - {name: echo-sm, from: {site: sql}, to: {site: mi}, kind: echo, interval: 4s, timeout: 4s, echo: {rounds: 20, mtu_every: 0s}}
  - {name: echo-ms, from: {site: mi}, to: {site: sql}, kind: echo, interval: 4s, timeout: 4s, echo: {rounds: 20, mtu_every: 0s}}
`

// TestLabLossEstimate: with random loss of 10 % and 30 % on every packet of
// the measured ports, both ways, linkmesh's per-packet loss figure of every
// tcp and echo path is within ±0.10 of the loss the router's iptables
// counters show (packets dropped by the loss rules / packets counted on those
// ports), and no echo attempt blames a middlebox (mismatch) for the loss.
func TestLabLossEstimate(t *testing.T) {
	lab := netlab.New(t)
	m := newLabMesh(t, lab, lossPolicy)
	type pathID struct {
		src, dst, kind string
		port           int
	}
	paths := []pathID{
		{"sql1", "mi1", "tcp", labEndpoint}, {"mi1", "sql1", "tcp", labEndpoint},
		{"sql1", "mi1", "echo", labResponder}, {"mi1", "sql1", "echo", labResponder},
	}
	m.wait(t, 30*time.Second, "all four paths up", func(s series) bool {
		for _, p := range paths {
			if v, ok := kindValue(s, "linkmesh_path_up", p.src, p.dst, p.port, p.kind); !ok || v != 1 {
				return false
			}
		}
		return true
	})
	counter := newLossCounter(t, lab)

	report(t, "", "Loss estimate (linkmesh_path_loss_ratio's method, /api/v1/paths window of the level) vs the router's iptables counters,",
		"random loss on every packet of ports 5022 (tcp, timeout 250 ms) and 5023 (echo, 20 round trips, timeout 4 s), both ways:", "",
		"| loss rule | truth (dropped / counted) | path | attempts | ok | estimate | error |", "|---|---|---|---|---|---|---|")
	for _, ratio := range []float64{0.1, 0.3} {
		var faults []netlab.Fault
		for _, dir := range [][2]string{{"sql", "mi"}, {"mi", "sql"}} {
			f := netlab.Fault{Kind: netlab.Loss, Ratio: ratio, From: dir[0], To: dir[1], Port: labEndpoint, PortEnd: labResponder}
			faults = append(faults, f, f.Reverse())
		}
		before := m.scrape(t)
		inj, err := lab.Inject(faults...)
		if err != nil {
			t.Fatal(err)
		}
		counter.install(t)
		since := time.Now()
		// Until every path has enough exchanges: tcp 250 attempts (one
		// exchange each; the window keeps 256), echo 12 attempts (up to 21
		// each); 75 s at most.
		var got []apiPath
		m.pollPaths(t, 75*time.Second, func() time.Duration { return time.Since(since) }, func(ps []apiPath) error {
			got = got[:0]
			for _, want := range paths {
				p, ok := findPath(ps, want.src, want.dst, want.kind, want.port)
				if !ok || p.Window == nil {
					return fmt.Errorf("%v: no window yet: %w", want, errNotYet)
				}
				need := 250
				if want.kind == "echo" {
					need = 12
				}
				if p.Window.Attempts < need {
					return fmt.Errorf("%v: %d attempts of %d: %w", want, p.Window.Attempts, need, errNotYet)
				}
				got = append(got, p)
			}
			return nil
		})
		dropped, counted := counter.read(t)
		during := m.scrape(t)
		if err := inj.Remove(); err != nil {
			t.Fatal(err)
		}
		counter.remove(t)
		truth := float64(dropped) / float64(counted)
		for _, p := range got {
			w := p.Window
			report(t, fmt.Sprintf("| %.0f %% | %.3f (%d / %d) | %s→%s %s | %d | %d | %.3f | %+.3f |",
				100*ratio, truth, dropped, counted, p.Source, p.Target, p.Kind, w.Attempts, w.OK, w.LossRatio, w.LossRatio-truth))
			if math.Abs(w.LossRatio-truth) > 0.10 {
				t.Errorf("loss %.0f %%: %s→%s %s estimates %.3f, the router dropped %.3f of the packets (more than ±0.10 off)",
					100*ratio, p.Source, p.Target, p.Kind, w.LossRatio, truth)
			}
		}
		for _, p := range paths[2:] {
			d := kindCount(during, p.src, p.dst, p.port, "echo", "mismatch") - kindCount(before, p.src, p.dst, p.port, "echo", "mismatch")
			if d != 0 {
				t.Errorf("loss %.0f %%: %s→%s echo: %v attempts read mismatch; random loss is not a middlebox", 100*ratio, p.src, p.dst, d)
			}
			var n float64
			for _, r := range []string{"ok", "timeout", "mismatch", "reset", "error"} {
				n += kindCount(during, p.src, p.dst, p.port, "echo", r) - kindCount(before, p.src, p.dst, p.port, "echo", r)
			}
			report(t, fmt.Sprintf("loss %.0f %%: %s→%s echo: %v attempts, %v mismatch, %v timeout", 100*ratio, p.src, p.dst, n, d,
				kindCount(during, p.src, p.dst, p.port, "echo", "timeout")-kindCount(before, p.src, p.dst, p.port, "echo", "timeout")))
		}
	}
}

func findPath(ps []apiPath, src, dst, kind string, port int) (apiPath, bool) {
	for _, p := range ps {
		if p.Source == src && p.Target == dst && p.Kind == kind && p.Port == port {
			return p, true
		}
	}
	return apiPath{}, false
}

// lossCounter counts, in the router, every packet of the measured ports
// (rules without a target, placed before the loss rules) and reads the loss
// rules' drops. Counters are read as differences from install.
type lossCounter struct {
	lab   *netlab.Lab
	rules [][]string
	base  [2]uint64
}

const lossCountComment = "linkmesh-loss-count"

func newLossCounter(t *testing.T, lab *netlab.Lab) *lossCounter {
	ports := fmt.Sprintf("%d:%d", labEndpoint, labResponder)
	var rules [][]string
	sql, mi := lab.SQL().Addr().String(), lab.MI().Addr().String()
	for _, d := range [][2]string{{sql, mi}, {mi, sql}} {
		rules = append(rules,
			[]string{"-p", "tcp", "-s", d[0], "-d", d[1], "--dport", ports, "-m", "comment", "--comment", lossCountComment},
			[]string{"-p", "tcp", "-s", d[1], "-d", d[0], "--sport", ports, "-m", "comment", "--comment", lossCountComment})
	}
	c := &lossCounter{lab: lab, rules: rules}
	t.Cleanup(func() { c.remove(t) })
	return c
}

func (c *lossCounter) iptables(args ...string) (string, error) {
	out, err := c.lab.Router().Command("iptables", append([]string{"-w", "5"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// install puts the counting rules first in FORWARD (after the loss rules were
// inserted, so every packet is counted before it may be dropped).
func (c *lossCounter) install(t *testing.T) {
	t.Helper()
	for _, r := range c.rules {
		if _, err := c.iptables(append([]string{"-I", "FORWARD", "1"}, r...)...); err != nil {
			t.Fatal(err)
		}
	}
	dropped, counted := c.read(t)
	c.base = [2]uint64{dropped, counted}
}

// remove deletes the counting rules that are in place.
func (c *lossCounter) remove(t *testing.T) {
	for _, r := range c.rules {
		for {
			if _, err := c.iptables(append([]string{"-C", "FORWARD"}, r...)...); err != nil {
				break // not (or no longer) there
			}
			if _, err := c.iptables(append([]string{"-D", "FORWARD"}, r...)...); err != nil {
				t.Errorf("remove counting rule: %v", err)
				break
			}
		}
	}
}

// read returns the packets the loss rules dropped and the packets counted on
// the measured ports since install.
func (c *lossCounter) read(t *testing.T) (dropped, counted uint64) {
	t.Helper()
	out, err := c.iptables("-L", "FORWARD", "-v", "-x", "-n")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, lossCountComment):
			counted += n
		case strings.Contains(line, "statistic mode random") && strings.Contains(line, "DROP"):
			dropped += n
		}
	}
	return dropped - c.base[0], counted - c.base[1]
}
