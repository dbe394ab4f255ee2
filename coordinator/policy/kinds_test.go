package policy

import (
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

const policyYAML = `
defaults: {interval: 30s, timeout: 10s}
paths:
  - name: echo
    from: {site: sql}
    to: {site: mi}
    kind: echo
    echo: {rounds: 5, mtu_every: 5m, burst: 8MiB, burst_every: 1h, burst_time: 5s}
  - name: p3-stand-in
    from: {site: mi}
    to: {site: sql, port: 5022}
    kind: echo
  - name: d1
    from: {site: sql}
    to: {address: mi1.abc123.database.windows.net, site: mi}
    kind: dns
    dns: {expect_cidrs: [10.1.2.0/24]}
`

func kindProbes() []*linkmeshv1.ProbeInfo {
	return []*linkmeshv1.ProbeInfo{
		{Name: "sql01", Site: "sql", ResponderAddress: "10.0.0.5:5023"},
		{Name: "mi01", Site: "mi", ResponderAddress: "10.1.2.9:5023"},
	}
}

func expand(t *testing.T, serving Serving) map[string][]*linkmeshv1.Target {
	t.Helper()
	cfg, err := config.Parse("policy.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	return Expand(cfg.Paths, kindProbes(), serving)
}

func byRule(targets []*linkmeshv1.Target, rule string) *linkmeshv1.Target {
	for _, t := range targets {
		if t.GetRule() == rule {
			return t
		}
	}
	return nil
}

func TestExpandKindOptions(t *testing.T) {
	plans := expand(t, nil)
	e := byRule(plans["sql01"], "echo")
	if e == nil || e.GetKind() != linkmeshv1.Kind_KIND_ECHO || e.GetPort() != 5023 {
		t.Fatalf("echo target: %v", e)
	}
	o := e.GetEcho()
	// 5m at a 30 s interval is every 10th attempt; 1h every 120th.
	if o.GetRounds() != 5 || o.GetMtuEvery() != 10 || o.GetBurstBytes() != 8<<20 || o.GetBurstEvery() != 120 || o.GetBurstMaxTime().AsDuration() != 5*time.Second {
		t.Errorf("echo options: %v", o)
	}
	d := byRule(plans["sql01"], "d1")
	if d == nil || d.GetKind() != linkmeshv1.Kind_KIND_DNS || d.GetHost() != "mi1.abc123.database.windows.net" || d.GetPort() != 0 ||
		len(d.GetDns().GetExpectCidrs()) != 1 {
		t.Errorf("dns target: %v", d)
	}
}

// TestEchoThroughStandIn: an echo rule to port 5022 of the SQL Server host is
// an echo target only while the probe there serves a stand-in on 5022;
// otherwise the real endpoint is measured with tcp.
func TestEchoThroughStandIn(t *testing.T) {
	tests := []struct {
		name    string
		serving Serving
		want    linkmeshv1.Kind
	}{
		{"no stand-in: the real endpoint, with tcp", nil, linkmeshv1.Kind_KIND_TCP},
		{"stand-in on another port", func(string, uint32) bool { return false }, linkmeshv1.Kind_KIND_TCP},
		{"stand-in serving 5022", func(p string, port uint32) bool { return p == "sql01" && port == 5022 }, linkmeshv1.Kind_KIND_ECHO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := byRule(expand(t, tt.serving)["mi01"], "p3-stand-in")
			if got == nil || got.GetKind() != tt.want || got.GetPort() != 5022 || got.GetHost() != "10.0.0.5" {
				t.Fatalf("target %v, want kind %s to 10.0.0.5:5022", got, tt.want)
			}
			if tt.want == linkmeshv1.Kind_KIND_TCP && got.GetEcho() != nil {
				t.Errorf("a tcp target carries echo options: %v", got.GetEcho())
			}
		})
	}
}
