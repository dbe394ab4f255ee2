//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dashboard"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// labEchoRules are added to labPolicy when this linkmesh accepts the echo kind,
// so the dashboard's echo-only panels get data when they can.
const labEchoRules = `
  - {name: sql-mi-echo, from: {site: sql}, to: {site: mi}, kind: echo}
  - {name: mi-sql-echo, from: {site: mi}, to: {site: sql}, kind: echo}
`

// alertingPolicy is labPolicy, plus echo paths if the coordinator's config
// accepts kind: echo (asked with --check-config, not assumed).
func alertingPolicy(t *testing.T) (policy string, echo bool) {
	t.Helper()
	bin := netlab.BuildLinkmesh(t)
	withEcho := labPolicy + labEchoRules
	cfg := filepath.Join(t.TempDir(), "check.yaml")
	if err := os.WriteFile(cfg, []byte("listen: {grpc: \":7022\", http: \":9022\"}\n"+withEcho), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "coordinator", "--config", cfg, "--check-config").CombinedOutput(); err != nil {
		t.Logf("no echo paths in this lab mesh: the coordinator refuses kind: echo (%s)", strings.TrimSpace(lastLine(string(out))))
		return labPolicy, false
	}
	return withEcho, true
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestLabAlerting runs the shipped rules and dashboard against the real thing:
// a linkmesh mesh in the lab, Debian's Prometheus scraping its coordinator and
// Alertmanager sending to a webhook, all in the router namespace.
//
//  1. Every dashboard query (panels and template variables) returns data through
//     Prometheus's HTTP API, except panels whose series this mesh does not
//     export (reported, not hidden).
//  2. A dropped sql → mi 5022 path reaches the webhook as LinkmeshPathDown with
//     the direction, port, cause and fix; no probe alert fires. It reports the
//     break → notification time.
//  3. Repairing it sends the resolved notification.
//  4. Killing the mi probe sends LinkmeshProbeDown and never LinkmeshPathDown,
//     though sql1's path to mi1's responder now fails.
//  5. Meanwhile (from before 2 until before 4) mi → sql 5022 flaps: dropped 3 s
//     of every 5 s, so about 60 % of its attempts fail but never 10 s in a
//     row. It reaches the webhook as LinkmeshPathDegraded, never as
//     LinkmeshPathDown.
//
// The rules are the shipped file with each for: and each range window divided
// by forScale (the lab's stale_after and intervals are 1/12 of the defaults
// too); the expressions are otherwise the shipped ones.
func TestLabAlerting(t *testing.T) {
	promBinaries(t) // skip (or fail under CI) before building anything
	lab := netlab.New(t)
	policy, echo := alertingPolicy(t)
	m := newLabMesh(t, lab, policy)
	router := lab.Router()
	meshStart := time.Now()
	m.wait(t, 20*time.Second, "all four tcp paths up", func(s series) bool {
		for _, p := range labPaths {
			if v, ok := upValue(s, p.src, p.dst, p.port); !ok || v != 1 {
				return false
			}
		}
		return true
	})

	rules, fors := labRules(t)
	coordTarget := hostPort(router.AddrToward(lab.SQL()).String(), labHTTP)
	ps := startPromStack(t, router, rules, coordTarget)
	ps.waitQuery(t, 30*time.Second, "count(linkmesh_path_up == 1)", func(r []promSeries) bool {
		return len(r) == 1 && r[0].Value[1] == fmt.Sprint(len(labPaths)+boolInt(echo)*2)
	})
	// No alert at all while everything works.
	ps.waitQuery(t, 10*time.Second, `count(ALERTS{alertname=~"Linkmesh.*"}) or vector(0)`, func(r []promSeries) bool {
		return len(r) == 1 && r[0].Value[1] == "0"
	})

	// 5. mi → sql on 5022 flaps from now until before 4.
	flapAt := time.Now()
	stopFlap := flapPath(t, lab, netlab.Fault{Kind: netlab.Drop, From: "mi", To: "sql", Port: labEndpoint}, 3*time.Second, 2*time.Second, 4*time.Minute)
	defer stopFlap()

	// 2. Break sql → mi on 5022.
	broken := []string{"alertname", "LinkmeshPathDown", "source", "sql1", "target", "mi1", "port", fmt.Sprint(labEndpoint)}
	inj, err := lab.Inject(netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: labEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	breakAt := time.Now()
	_, detect := m.wait(t, 15*time.Second, "sql1→mi1:5022 up 0 on the coordinator", func(s series) bool {
		v, ok := upValue(s, "sql1", "mi1", labEndpoint)
		return ok && v == 0
	})
	fired := ps.hook.wait(t, 90*time.Second, breakAt, "firing", broken...)
	breakToNotify := fired.At.Sub(breakAt)
	for k, want := range map[string]string{
		"severity": "critical", "direction": "sql→mi", "source_site": "sql", "target_site": "mi", "kind": "tcp",
	} {
		if got := fired.Labels[k]; got != want {
			t.Errorf("LinkmeshPathDown label %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := fired.Labels["instance"]; ok {
		t.Errorf("LinkmeshPathDown carries instance=%q; the rules aggregate it away (HA pair)", fired.Labels["instance"])
	}
	for k, want := range map[string]string{
		"summary":      "sql → mi is broken: sql1 cannot reach mi1 on TCP 5022",
		"description":  `fail with result "timeout"`,
		"likely_cause": "silently dropped",
		"first_fix":    "Allow inbound TCP 5022 from the SQL Server host on the MI subnet's NSG",
	} {
		if got := fired.Annotations[k]; !strings.Contains(got, want) {
			t.Errorf("LinkmeshPathDown annotation %s = %q, want it to contain %q", k, got, want)
		}
	}
	if n := ps.hook.matching(meshStart, "", "alertname", "LinkmeshProbeDown"); len(n) > 0 {
		t.Errorf("LinkmeshProbeDown reached the webhook during a path break: %v", n[0].Labels)
	}
	for _, n := range ps.hook.matching(meshStart, "firing", "alertname", "LinkmeshPathDown") {
		if n.Labels["source"] != "sql1" || n.Labels["target"] != "mi1" || n.Labels["port"] != fmt.Sprint(labEndpoint) {
			t.Errorf("LinkmeshPathDown for a path that is not broken: %v", n.Labels)
		}
	}

	// 3. Repair: the alert resolves.
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	repairAt := time.Now()
	resolved := ps.hook.wait(t, 90*time.Second, repairAt, "resolved", broken...)
	repairToResolved := resolved.At.Sub(repairAt)

	// 1. Every dashboard query returns data over the run (healthy, broken and
	// repaired), as Grafana would ask for it.
	checkDashboard(t, m, ps, meshStart)

	// 5. The flapping path pages as degraded, never as down.
	flapping := []string{"alertname", "LinkmeshPathDegraded", "source", "mi1", "target", "sql1", "port", fmt.Sprint(labEndpoint)}
	degraded := ps.hook.wait(t, 150*time.Second, flapAt, "firing", flapping...)
	stopFlap()
	if got, want := degraded.Labels["severity"], "critical"; got != want {
		t.Errorf("LinkmeshPathDegraded severity %q, want %q", got, want)
	}
	for k, want := range map[string]string{
		"summary":     "mi → sql is degraded:",
		"description": `mostly with result "timeout"`,
	} {
		if got := degraded.Annotations[k]; !strings.Contains(got, want) {
			t.Errorf("LinkmeshPathDegraded annotation %s = %q, want it to contain %q", k, got, want)
		}
	}
	if n := ps.hook.matching(flapAt, "firing", "alertname", "LinkmeshPathDown", "source", "mi1"); len(n) > 0 {
		t.Errorf("the flapping path paged as down: %v", n[0].Labels)
	}
	for _, n := range ps.hook.matching(meshStart, "firing", "alertname", "LinkmeshPathDegraded") {
		if n.Labels["source"] != "mi1" || n.Labels["port"] != fmt.Sprint(labEndpoint) {
			t.Errorf("LinkmeshPathDegraded for a path that did not flap: %v", n.Labels)
		}
	}

	// 4. Kill the mi probe: a dead probe, not a broken path.
	killAt := time.Now()
	if err := m.probes["mi"].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	probeDown := ps.hook.wait(t, 90*time.Second, killAt, "firing", "alertname", "LinkmeshProbeDown", "probe", "mi1")
	if !strings.Contains(probeDown.Annotations["summary"], "not broken") {
		t.Errorf("LinkmeshProbeDown summary %q: want it to say the paths are unknown, not broken", probeDown.Annotations["summary"])
	}
	// sql1's attempts on mi1's responder fail now (nothing listens): prove it,
	// then watch for a LinkmeshPathDown until well past its for: — none may
	// fire. (The coordinator reports that path unknown, not 0, once mi1 is
	// down; the rules would hold without that, see the promtool tests.)
	ps.waitQuery(t, 30*time.Second, fmt.Sprintf(`increase(linkmesh_path_probes_total{source="sql1",target="mi1",port="%d",result!="ok"}[5s]) > 0`, labResponder),
		func(r []promSeries) bool { return len(r) > 0 })
	watchUntil := killAt.Add(3 * fors["LinkmeshPathDown"])
	if min := time.Now().Add(5 * time.Second); watchUntil.Before(min) {
		watchUntil = min
	}
	// An absence (no page) is seen only by watching, in real time, for as
	// long as the alert would need to fire.
	var paged []notification
	if waitfor.Poll(time.Until(watchUntil), func() bool {
		paged = ps.hook.matching(killAt, "firing", "alertname", "LinkmeshPathDown")
		return len(paged) > 0
	}) {
		t.Fatalf("a dead probe paged as a broken path: LinkmeshPathDown %v", paged[0].Labels)
	}
	r, err := ps.queryRange(`ALERTS{alertname="LinkmeshPathDown", alertstate="firing"}`, killAt, time.Now(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) > 0 {
		t.Errorf("LinkmeshPathDown was firing in Prometheus after the probe was killed: %v", r[0].Metric)
	}
	if r, err := ps.query(`linkmesh_path_up{source="mi1"}`); err != nil || len(r) != 0 {
		t.Errorf("mi1's own paths: linkmesh_path_up %v (error %v), want none (unknown)", r, err)
	}

	t.Logf("every notification the webhook received:\n%s", ps.hook.dump())
	report(t, "",
		"| what (lab: 1 s attempts, 500 ms timeout, stale_after 5 s; Prometheus 1 s scrape and evaluation; for: = shipped / 12) | time |",
		"|---|---|",
		fmt.Sprintf("| break (drop sql→mi 5022) → coordinator linkmesh_path_up 0 | %.1f s |", detect.Seconds()),
		fmt.Sprintf("| break → LinkmeshPathDown at the webhook (for: %v) | %.1f s |", fors["LinkmeshPathDown"], breakToNotify.Seconds()),
		fmt.Sprintf("| repair → resolved at the webhook | %.1f s |", repairToResolved.Seconds()),
		fmt.Sprintf("| kill -9 mi probe → LinkmeshProbeDown at the webhook (for: %v), no LinkmeshPathDown | %.1f s |", fors["LinkmeshProbeDown"], probeDown.At.Sub(killAt).Seconds()),
		fmt.Sprintf("| mi→sql 5022 flaps (dropped 3 s of every 5 s) → LinkmeshPathDegraded at the webhook (window 25 s, for: %v), no LinkmeshPathDown | %.1f s |", fors["LinkmeshPathDegraded"], degraded.At.Sub(flapAt).Seconds()),
	)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkDashboard asks Prometheus every dashboard query over [since, now] with
// the template variables at "All". A query that returns nothing fails the test
// unless a series it names is not on the coordinator's /metrics in this mesh
// (planned series, or echo-only ones without echo paths): those are reported.
func checkDashboard(t *testing.T, m *labMesh, ps *promStack, since time.Time) {
	t.Helper()
	d, err := dashboard.Load()
	if err != nil {
		t.Fatal(err)
	}
	qs, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"__rate_interval": "5s", "__interval": "1s", "__range": "5m"}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			vars[v.Name] = v.AllValue
		}
	}
	exported := map[string]bool{"up": true, "ALERTS": true}
	for k := range m.scrape(t) {
		name := k[:strings.IndexByte(k, '{')]
		exported[name] = true
		if base, ok := strings.CutSuffix(name, "_count"); ok {
			exported[base+"_bucket"] = true // histograms: scrape() keeps _count and _sum
		}
	}
	end := time.Now()
	var data, skipped []string
	for _, q := range qs {
		expr, missing := dashboard.Expand(q.Expr, vars)
		if len(missing) > 0 {
			t.Errorf("%s: undefined variables %v", q.Where, missing)
			continue
		}
		var r []promSeries
		if q.Variable {
			r, err = ps.series(expr, since, end)
		} else {
			r, err = ps.queryRange(expr, since, end, time.Second)
		}
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		if len(r) > 0 {
			data = append(data, q.Where)
			continue
		}
		names, err := dashboard.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		var absent []string
		for _, n := range names {
			if !exported[n] {
				absent = append(absent, n)
			}
		}
		if len(absent) == 0 {
			t.Errorf("%s returned no data though every series it names is exported here:\n  %s", q.Where, expr)
			continue
		}
		skipped = append(skipped, fmt.Sprintf("%s (not exported by this mesh: %s)", q.Where, strings.Join(absent, ", ")))
	}
	sort.Strings(skipped)
	t.Logf("dashboard: %d queries returned data", len(data))
	lines := []string{"", fmt.Sprintf("dashboard queries with data through Prometheus: %d of %d", len(data), len(qs))}
	for _, s := range skipped {
		lines = append(lines, "not exercised: "+s)
	}
	report(t, lines...)
}
