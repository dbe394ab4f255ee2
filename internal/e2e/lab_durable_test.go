//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

var resultNames = []string{"ok", "refused", "timeout", "unreachable", "dns", "reset", "mismatch", "error"}

// sameCounts compares, result by result, the coordinator's count of a probe's
// attempts on the path to target with the probe's own attempt counter.
func sameCounts(coord, probe series, source, target string) error {
	for _, r := range resultNames {
		c := sumMatching(coord, "linkmesh_path_probes_total", "source", source, "target", target, "result", r)
		p := sumMatching(probe, "linkmesh_probe_attempts_total", "target", target, "result", r)
		if c != p {
			return fmt.Errorf("%s→%s result %s: coordinator counted %v, the probe made %v", source, target, r, c, p)
		}
	}
	return nil
}

// TestLabCoordinatorOutageNoLoss kills the coordinator (kill -9) for 60 s while
// two probes report 10 results/s each over mTLS, then starts it again on the
// same state directory: every attempt of the outage is counted exactly once
// (the coordinator's linkmesh_path_probes_total equals each probe's
// linkmesh_probe_attempts_total, result by result), no sequence number is
// missing, and no exported counter (the path counts, the results ingested
// total) went backwards.
func TestLabCoordinatorOutageNoLoss(t *testing.T) {
	l := newTLSLab(t)
	lab := l.lab
	hosts := []*netlab.Host{lab.SQL(), lab.MI()}
	coord := l.startCoordinator(t, fastPolicy)
	l.startProbe(t, lab.SQL(), "sql1", "sql")
	l.startProbe(t, lab.MI(), "mi1", "mi")
	before, _ := l.poll(t, 30*time.Second, "both directions up and counting", hosts, func(c series, _ []series) error {
		for _, p := range [][2]string{{"sql1", "mi1"}, {"mi1", "sql1"}} {
			if v, ok := c.one("linkmesh_path_up", "source", p[0], "target", p[1]); !ok || v != 1 {
				return fmt.Errorf("%s→%s not up yet", p[0], p[1])
			}
			if sumMatching(c, "linkmesh_path_probes_total", "source", p[0]) < 20 {
				return fmt.Errorf("%s has fewer than 20 results counted", p[0])
			}
		}
		return nil
	})

	coord.kill9(t)
	killed := time.Now()
	const outage = 60 * time.Second
	time.Sleep(outage) // the outage itself; nothing is checked until it ends
	_, during := l.poll(t, 10*time.Second, "probes holding the outage's results", hosts, func(_ series, ps []series) error {
		for i, p := range ps {
			if v, _ := p.one("linkmesh_probe_buffered_results"); v < 500 {
				return fmt.Errorf("%s holds %v results after a %v outage, want ≥ 500", hosts[i].Name(), v, outage)
			}
		}
		return nil
	})

	restarted := time.Now()
	l.startCoordinator(t, idlePolicy) // same state dir; probes get an empty plan and stop probing
	after, probes := l.poll(t, 60*time.Second, "coordinator counts equal the probes' attempts", hosts, func(c series, ps []series) error {
		for i, p := range [][2]string{{"sql1", "mi1"}, {"mi1", "sql1"}} {
			if v, _ := ps[i].one("linkmesh_probe_buffered_results"); v != 0 {
				return fmt.Errorf("%s still holds %v unacked results", p[0], v)
			}
			if err := sameCounts(c, ps[i], p[0], p[1]); err != nil {
				return err
			}
		}
		return nil
	})
	caughtUp := time.Since(restarted)
	for _, name := range []string{"sql1", "mi1"} {
		if v, _ := after.one("linkmesh_probe_missing_results_total", "probe", name); v != 0 {
			t.Errorf("%s: %v sequence numbers never arrived, want 0", name, v)
		}
		if v, _ := after.one("linkmesh_probe_dropped_results_total", "probe", name); v != 0 {
			t.Errorf("%s: %v results dropped, want 0", name, v)
		}
	}
	for k, v := range before {
		if (strings.HasPrefix(k, "linkmesh_path_probes_total{") || strings.HasPrefix(k, "linkmesh_coordinator_results_ingested_total{")) && after[k] < v {
			t.Errorf("%s went backwards across the crash: %v → %v", k, v, after[k])
		}
	}
	var outageResults float64
	for i, h := range hosts {
		outageResults += sumMatching(during[i], "linkmesh_probe_buffered_results")
		_ = h
	}
	total := sumMatching(probes[0], "linkmesh_probe_attempts_total") + sumMatching(probes[1], "linkmesh_probe_attempts_total")
	report(t, "",
		fmt.Sprintf("coordinator kill -9 for %v (two probes, 10 results/s each, mTLS, state dir): %v results held by the probes during the outage; after restart, all %v attempts counted exactly once (per path and result), 0 missing, 0 dropped; caught up %v after the restart (%v after the kill)",
			outage, outageResults, total, caughtUp.Round(100*time.Millisecond), time.Since(killed).Round(100*time.Millisecond)))
}

// TestLabProbeKilledWithSpool: a probe with a disk spool holds results the
// (stopped) coordinator never acked; it is killed with SIGKILL and started
// again on the same spool: every one of its sequence numbers arrives, once.
func TestLabProbeKilledWithSpool(t *testing.T) {
	l := newTLSLab(t)
	lab := l.lab
	sql := []*netlab.Host{lab.SQL()}
	spool := t.TempDir()
	coord := l.startCoordinator(t, fastPolicy)
	probe := l.startProbe(t, lab.SQL(), "sql1", "sql", "--spool-dir", spool)
	l.startProbe(t, lab.MI(), "mi1", "mi")
	l.poll(t, 30*time.Second, "sql1→mi1 counting", sql, func(c series, _ []series) error {
		if sumMatching(c, "linkmesh_path_probes_total", "source", "sql1") < 10 {
			return fmt.Errorf("fewer than 10 results of sql1 counted")
		}
		return nil
	})
	coord.kill9(t)
	_, ps := l.poll(t, 20*time.Second, "sql1 holding unacked results", sql, func(_ series, ps []series) error {
		if v, _ := ps[0].one("linkmesh_probe_buffered_results"); v < 30 {
			return fmt.Errorf("sql1 holds %v results, want ≥ 30", v)
		}
		return nil
	})
	held, _ := ps[0].one("linkmesh_probe_buffered_results")
	lastBefore, _ := ps[0].one("linkmesh_probe_last_sequence_number")
	probe.kill9(t)

	l.startCoordinator(t, idlePolicy)
	l.startProbe(t, lab.SQL(), "sql1", "sql", "--spool-dir", spool)
	after, ps := l.poll(t, 30*time.Second, "the spooled results delivered", sql, func(c series, ps []series) error {
		last, _ := ps[0].one("linkmesh_probe_last_sequence_number")
		if last < lastBefore {
			return fmt.Errorf("the restarted probe numbers from %v, below %v before the kill: the spool did not continue the sequence", last, lastBefore)
		}
		if v, _ := ps[0].one("linkmesh_probe_buffered_results"); v != 0 {
			return fmt.Errorf("sql1 still holds %v results", v)
		}
		if got := sumMatching(c, "linkmesh_path_probes_total", "source", "sql1"); got != last {
			return fmt.Errorf("coordinator counted %v results of sql1; its sequence reached %v", got, last)
		}
		return nil
	})
	if v, _ := after.one("linkmesh_probe_missing_results_total", "probe", "sql1"); v != 0 {
		t.Errorf("%v sequence numbers of sql1 never arrived, want 0", v)
	}
	last, _ := ps[0].one("linkmesh_probe_last_sequence_number")
	report(t, "", fmt.Sprintf("probe kill -9 with a spool holding %v unacked results (sequence at %v): after restart all %v sequence numbers counted once, 0 missing", held, lastBefore, last))
}
