//go:build linux

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// shard is one coordinator of TestLabTwoCoordinators and the probes it owns.
type shard struct {
	name       string
	grpc, http int
	responder  int      // the responder port of its probes
	probes     []string // probe names; the site is the name without its digit
}

// TestLabTwoCoordinators: past one coordinator, the mesh is split into shards,
// each coordinator owning its share of the probes (docs/scaling.md). Two
// coordinators in the router, A owning sql1 and mi1, B owning sql2 and mi2
// (the same policy, both directions), and one Prometheus scraping both with
// the shipped rules (windows and for: scaled as in TestLabAlerting):
//
//  1. Prometheus sees every path once: 4 paths up, 2 per coordinator, one
//     recorded median RTT per path, and no alert firing.
//  2. Dropping sql → mi on B's responder port fires LinkmeshPathDown for
//     sql2 → mi2 alone: rules work across shards, and A's share stays up.
func TestLabTwoCoordinators(t *testing.T) {
	promBinaries(t) // skip (or fail under CI) before building anything
	lab := netlab.New(t)
	bin := netlab.BuildLinkmesh(t)
	router, sql := lab.Router(), lab.SQL()
	dir := t.TempDir()
	keyFile := writeMeshKey(t, dir)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: router.DialContext, DisableKeepAlives: true}}
	shards := []shard{
		{name: "a", grpc: labGRPC, http: labHTTP, responder: labResponder, probes: []string{"sql1", "mi1"}},
		{name: "b", grpc: labGRPC + 100, http: labHTTP + 100, responder: labResponder + 100, probes: []string{"sql2", "mi2"}},
	}
	var targets []string
	for _, s := range shards {
		cfgFile := filepath.Join(dir, "coordinator-"+s.name+".yaml")
		cfg := fmt.Sprintf(`name: coord-%s
listen: {grpc: ":%d", http: ":%d"}
mesh_key_file: %s
gossip: {disabled: true}
stale_after: 10s
defaults: {interval: 1s, timeout: 1s}
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`, s.name, s.grpc, s.http, keyFile)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		startLabProc(t, router, "coordinator-"+s.name, bin, "coordinator", "--config", cfgFile, "--insecure")
		target := net.JoinHostPort(router.AddrToward(sql).String(), fmt.Sprint(s.http))
		waitHTTPOK(t, client, "http://"+target+"/readyz", 15*time.Second, "coordinator "+s.name)
		targets = append(targets, target)
		for _, name := range s.probes {
			site := name[:len(name)-1]
			h := lab.Host(site)
			coord := net.JoinHostPort(router.AddrToward(h).String(), fmt.Sprint(s.grpc))
			startProcess(t, h, name+"-probe", bin, "probe", "--name", name, "--site", site,
				"--coordinator", coord, "--responder", fmt.Sprintf(":%d", s.responder),
				"--insecure", "--no-gossip", "--mesh-key-file", keyFile)
		}
	}

	rules, _ := labRules(t)
	start := time.Now()
	ps := startPromStack(t, router, rules, targets...)
	ps.waitQuery(t, 60*time.Second, "count(max without (instance) (linkmesh_path_up == 1))", func(r []promSeries) bool {
		return len(r) == 1 && r[0].Value[1] == "4"
	})
	ps.waitQuery(t, 10*time.Second, "count by (instance) (linkmesh_path_up == 1)", func(r []promSeries) bool {
		return len(r) == 2 && r[0].Value[1] == "2" && r[1].Value[1] == "2"
	})
	ps.waitQuery(t, 30*time.Second, "count(path:linkmesh_path_rtt_seconds:p50_5m)", func(r []promSeries) bool {
		return len(r) == 1 && r[0].Value[1] == "4"
	})
	ps.waitQuery(t, 10*time.Second, `count(ALERTS{alertname=~"Linkmesh.*", alertstate="firing"}) or vector(0)`, func(r []promSeries) bool {
		return len(r) == 1 && r[0].Value[1] == "0"
	})
	allUp := time.Since(start)

	// 2. Break B's sql → mi.
	if _, err := lab.Inject(netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: uint16(shards[1].responder)}); err != nil {
		t.Fatal(err)
	}
	breakAt := time.Now()
	fired := ps.hook.wait(t, 90*time.Second, breakAt, "firing", "alertname", "LinkmeshPathDown", "source", "sql2", "target", "mi2")
	if got := fired.Labels["instance"]; got != "" {
		t.Errorf("LinkmeshPathDown carries instance %q: the rule should aggregate the shards' instances away", got)
	}
	r, err := ps.query(`max without (instance) (linkmesh_path_up{source="sql1", target="mi1"})`)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 1 || r[0].Value[1] != "1" {
		t.Errorf("A's sql1 → mi1 while B's sql → mi is broken: %v, want up (1)", r)
	}
	report(t, fmt.Sprintf("two coordinators, one Prometheus: all 4 paths up in Prometheus %v after it started; LinkmeshPathDown for B's sql2 → mi2 at the webhook %v after the break (rules scaled ×1/%d)",
		allUp.Round(100*time.Millisecond), fired.At.Sub(breakAt).Round(100*time.Millisecond), forScale))
}
