package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/coordinator/config"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// rules parses a paths: list the way the coordinator does, so defaults (kind,
// interval, timeout, rule names, static target name and site) are applied.
func rules(t *testing.T, yaml string) []config.Rule {
	t.Helper()
	cfg, err := config.Parse("policy_test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, yaml)
	}
	return cfg.Paths
}

func probe(name, site, responder string, labels ...string) *linkmeshv1.ProbeInfo {
	p := &linkmeshv1.ProbeInfo{Name: name, Site: site, ResponderAddress: responder, Epoch: 1}
	if len(labels) > 0 {
		p.Labels = map[string]string{}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			p.Labels[k] = v
		}
	}
	return p
}

// The mesh most cases use: two SQL Server hosts, two MI-side probes (one that
// cannot be reached) and one with its host left for the coordinator to fill.
var mesh = []*linkmeshv1.ProbeInfo{
	probe("sql01", "sql", "10.0.0.1:5023", "role=primary"),
	probe("sql02", "sql", "10.0.0.2:6000", "role=secondary"),
	probe("mi01", "mi", "10.1.0.1:5023", "zone=a"),
	probe("mi02", "mi", "[fd00::2]:5023", "zone=b"),
	probe("mi03", "mi", ""),      // no responder
	probe("mi04", "mi", ":5023"), // host not filled in
}

// summary renders a target as "id kind host:port name@site interval/timeout rule".
func summary(t *linkmeshv1.Target) string {
	return fmt.Sprintf("%s %s %s:%d %s@%s %v/%v %s", t.GetId(), t.GetKind(), t.GetHost(), t.GetPort(),
		t.GetName(), t.GetSite(), t.GetInterval().AsDuration(), t.GetTimeout().AsDuration(), t.GetRule())
}

func TestExpand(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		probes []*linkmeshv1.ProbeInfo
		want   map[string][]string // probe → target summaries, in order
	}{
		{
			name: "site to site, both directions",
			yaml: `
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`,
			probes: mesh,
			want: map[string][]string{
				"sql01": {
					"sql->mi/tcp/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 30s/5s sql->mi/tcp",
					"sql->mi/tcp/mi02:5023/tcp KIND_TCP fd00::2:5023 mi02@mi 30s/5s sql->mi/tcp",
				},
				"sql02": {
					"sql->mi/tcp/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 30s/5s sql->mi/tcp",
					"sql->mi/tcp/mi02:5023/tcp KIND_TCP fd00::2:5023 mi02@mi 30s/5s sql->mi/tcp",
				},
				"mi01": {
					"mi->sql/tcp/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s mi->sql/tcp",
					"mi->sql/tcp/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s mi->sql/tcp",
				},
				"mi02": {
					"mi->sql/tcp/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s mi->sql/tcp",
					"mi->sql/tcp/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s mi->sql/tcp",
				},
				// Probes without a reachable responder still measure others.
				"mi03": {
					"mi->sql/tcp/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s mi->sql/tcp",
					"mi->sql/tcp/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s mi->sql/tcp",
				},
				"mi04": {
					"mi->sql/tcp/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s mi->sql/tcp",
					"mi->sql/tcp/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s mi->sql/tcp",
				},
			},
		},
		{
			name: "within one site a probe never targets itself",
			yaml: `
paths:
  - {from: {site: sql}, to: {site: sql}}
`,
			probes: mesh,
			want: map[string][]string{
				"sql01": {"sql->sql/tcp/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s sql->sql/tcp"},
				"sql02": {"sql->sql/tcp/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s sql->sql/tcp"},
				"mi01":  nil, "mi02": nil, "mi03": nil, "mi04": nil,
			},
		},
		{
			name: "a probe alone in its site gets nothing",
			yaml: `
paths:
  - {from: {site: sql}, to: {site: sql}}
`,
			probes: []*linkmeshv1.ProbeInfo{probe("sql01", "sql", "10.0.0.1:5023")},
			want:   map[string][]string{"sql01": nil},
		},
		{
			name: "static address target, defaults for name and site",
			yaml: `
defaults: {interval: 10s, timeout: 2s}
paths:
  - from: {site: sql}
    to: {address: mi1.abc123.database.windows.net, port: 5022}
    interval: 1m
`,
			probes: mesh[:3],
			want: map[string][]string{
				"sql01": {"sql->mi1.abc123.database.windows.net:5022/tcp/mi1.abc123.database.windows.net:5022/tcp KIND_TCP mi1.abc123.database.windows.net:5022 mi1.abc123.database.windows.net@external 1m0s/2s sql->mi1.abc123.database.windows.net:5022/tcp"},
				"sql02": {"sql->mi1.abc123.database.windows.net:5022/tcp/mi1.abc123.database.windows.net:5022/tcp KIND_TCP mi1.abc123.database.windows.net:5022 mi1.abc123.database.windows.net@external 1m0s/2s sql->mi1.abc123.database.windows.net:5022/tcp"},
				"mi01":  nil,
			},
		},
		{
			name: "static address with name and site",
			yaml: `
paths:
  - name: p1
    from: {site: sql}
    to: {address: 10.1.0.10, port: 5022, name: mi1, site: mi}
`,
			probes: mesh[:1],
			want: map[string][]string{
				"sql01": {"p1/mi1:5022/tcp KIND_TCP 10.1.0.10:5022 mi1@mi 30s/5s p1"},
			},
		},
		{
			name: "to.port overrides the responder port, host from the responder",
			yaml: `
paths:
  - name: p3
    from: {site: mi}
    to: {site: sql, port: 5022}
`,
			probes: mesh,
			want: map[string][]string{
				"mi01": {
					"p3/sql01:5022/tcp KIND_TCP 10.0.0.1:5022 sql01@sql 30s/5s p3",
					"p3/sql02:5022/tcp KIND_TCP 10.0.0.2:5022 sql02@sql 30s/5s p3",
				},
				"mi02": {
					"p3/sql01:5022/tcp KIND_TCP 10.0.0.1:5022 sql01@sql 30s/5s p3",
					"p3/sql02:5022/tcp KIND_TCP 10.0.0.2:5022 sql02@sql 30s/5s p3",
				},
				"mi03": {
					"p3/sql01:5022/tcp KIND_TCP 10.0.0.1:5022 sql01@sql 30s/5s p3",
					"p3/sql02:5022/tcp KIND_TCP 10.0.0.2:5022 sql02@sql 30s/5s p3",
				},
				"mi04": {
					"p3/sql01:5022/tcp KIND_TCP 10.0.0.1:5022 sql01@sql 30s/5s p3",
					"p3/sql02:5022/tcp KIND_TCP 10.0.0.2:5022 sql02@sql 30s/5s p3",
				},
				"sql01": nil, "sql02": nil,
			},
		},
		{
			name: "label selectors on both sides",
			yaml: `
paths:
  - name: primary-to-zone-a
    from: {site: sql, labels: {role: primary}}
    to: {labels: {zone: a}}
  - name: zone-b-to-secondary
    from: {labels: {zone: b}}
    to: {site: sql, labels: {role: secondary}}
`,
			probes: mesh,
			want: map[string][]string{
				"sql01": {"primary-to-zone-a/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 30s/5s primary-to-zone-a"},
				"mi02":  {"zone-b-to-secondary/sql02:6000/tcp KIND_TCP 10.0.0.2:6000 sql02@sql 30s/5s zone-b-to-secondary"},
				"sql02": nil, "mi01": nil, "mi03": nil, "mi04": nil,
			},
		},
		{
			name: "a label selector needs every label",
			yaml: `
paths:
  - name: r
    from: {site: sql}
    to: {labels: {zone: a, tier: gold}}
`,
			probes: mesh[:3],
			want:   map[string][]string{"sql01": nil, "sql02": nil, "mi01": nil},
		},
		{
			name: "same target from two rules: the first rule in the file wins",
			yaml: `
paths:
  - name: z-first
    from: {site: sql}
    to: {site: mi}
    interval: 10s
    timeout: 1s
  - name: a-second
    from: {labels: {role: primary}}
    to: {labels: {zone: a}}
    interval: 20s
    timeout: 2s
`,
			probes: mesh[:3],
			want: map[string][]string{
				"sql01": {"z-first/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 10s/1s z-first"},
				"sql02": {"z-first/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 10s/1s z-first"},
				"mi01":  nil,
			},
		},
		{
			name: "same static target from two rules is deduped; another port is not",
			yaml: `
paths:
  - name: b-first
    from: {site: sql}
    to: {address: mi1.example.net, port: 5022, site: mi}
  - name: a-second
    from: {labels: {role: primary}}
    to: {address: mi1.example.net, port: 5022, site: mi}
  - name: c-redirect
    from: {labels: {role: primary}}
    to: {address: mi1.example.net, port: 11000, site: mi}
`,
			probes: mesh[:1],
			want: map[string][]string{
				"sql01": {
					"b-first/mi1.example.net:5022/tcp KIND_TCP mi1.example.net:5022 mi1.example.net@mi 30s/5s b-first",
					"c-redirect/mi1.example.net:11000/tcp KIND_TCP mi1.example.net:11000 mi1.example.net@mi 30s/5s c-redirect",
				},
			},
		},
		{
			name: "the responder port and a to.port are different targets",
			yaml: `
paths:
  - name: echo-port
    from: {site: mi}
    to: {site: sql}
  - name: endpoint-port
    from: {site: mi}
    to: {site: sql, port: 5022}
`,
			probes: []*linkmeshv1.ProbeInfo{mesh[0], mesh[2]},
			want: map[string][]string{
				"mi01": {
					"echo-port/sql01:5023/tcp KIND_TCP 10.0.0.1:5023 sql01@sql 30s/5s echo-port",
					"endpoint-port/sql01:5022/tcp KIND_TCP 10.0.0.1:5022 sql01@sql 30s/5s endpoint-port",
				},
				"sql01": nil,
			},
		},
		{
			name: "probes without a usable responder address are skipped",
			yaml: `
paths:
  - {from: {site: sql}, to: {site: mi, port: 5022}}
`,
			probes: []*linkmeshv1.ProbeInfo{
				mesh[0],
				probe("mi03", "mi", ""),
				probe("mi04", "mi", ":5023"),
				probe("mi05", "mi", "not-an-address"),
			},
			want: map[string][]string{"sql01": nil, "mi03": nil, "mi04": nil, "mi05": nil},
		},
		{
			name: "no probes",
			yaml: `
paths:
  - {from: {site: sql}, to: {site: mi}}
`,
			probes: nil,
			want:   map[string][]string{},
		},
		{
			name: "ids sort across rules",
			yaml: `
paths:
  - name: b
    from: {site: sql}
    to: {site: mi}
  - name: a
    from: {site: sql}
    to: {address: 10.9.9.9, port: 5022, site: mi}
`,
			probes: mesh[:3],
			want: map[string][]string{
				"sql01": {
					"a/10.9.9.9:5022/tcp KIND_TCP 10.9.9.9:5022 10.9.9.9@mi 30s/5s a",
					"b/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 30s/5s b",
				},
				"sql02": {
					"a/10.9.9.9:5022/tcp KIND_TCP 10.9.9.9:5022 10.9.9.9@mi 30s/5s a",
					"b/mi01:5023/tcp KIND_TCP 10.1.0.1:5023 mi01@mi 30s/5s b",
				},
				"mi01": nil,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Expand(rules(t, tt.yaml), tt.probes, nil)
			for name, targets := range got {
				want, ok := tt.want[name]
				if !ok {
					t.Errorf("plan for %s: got %d targets, want no plan", name, len(targets))
					continue
				}
				var sums []string
				for _, tg := range targets {
					sums = append(sums, summary(tg))
				}
				if !slices.Equal(sums, want) {
					t.Errorf("plan for %s:\ngot  %s\nwant %s", name, strings.Join(sums, "\n     "), strings.Join(want, "\n     "))
				}
			}
			for name := range tt.want {
				if _, ok := got[name]; !ok {
					t.Errorf("plan for %s: got none, want an entry (possibly empty)", name)
				}
			}
		})
	}
}
