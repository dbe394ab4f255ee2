package deploy_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/deploy"
	"github.com/linkmesh/linkmesh/internal/dashboard"
	"go.yaml.in/yaml/v3"
)

// grafanaBuiltins are the values Grafana gives its own variables; the checks
// substitute them, and "All" (.*) for the dashboard's own variables.
var grafanaBuiltins = map[string]string{"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}

func dashboardVars(d *dashboard.Dashboard) map[string]string {
	vars := map[string]string{}
	for k, v := range grafanaBuiltins {
		vars[k] = v
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			vars[v.Name] = v.AllValue
		}
	}
	return vars
}

// TestDashboardQueriesNameExportedMetrics parses every panel query and template
// variable query of the shipped dashboard with the PromQL parser and checks that
// each metric it names is one linkmesh exports (or Prometheus's own up/ALERTS).
// Queries that need a planned series are allowed and listed.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	d, err := dashboard.Load()
	if err != nil {
		t.Fatal(err)
	}
	qs, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 10 {
		t.Fatalf("the dashboard has %d queries; want at least 10", len(qs))
	}
	c := exported(t)
	vars := dashboardVars(d)
	plannedUse := map[string][]string{}
	for _, q := range qs {
		expr, missing := dashboard.Expand(q.Expr, vars)
		if len(missing) > 0 {
			t.Errorf("%s: undefined variables %v in %s", q.Where, missing, q.Expr)
			continue
		}
		names, err := dashboard.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v\n  query: %s", q.Where, err, expr)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: names no metric: %s", q.Where, expr)
		}
		for _, n := range names {
			ok, planned := c.allows(n)
			switch {
			case !ok:
				t.Errorf("%s: %s is not a series linkmesh exports (or a histogram named without _bucket/_sum/_count)\n  query: %s", q.Where, n, expr)
			case planned:
				plannedUse[n] = append(plannedUse[n], q.Where)
			}
		}
	}
	for n, where := range plannedUse {
		t.Logf("planned series %s (docs/metrics.md), not exported yet, used by: %s", n, strings.Join(where, "; "))
	}
}

// TestDashboardIsPortable checks what lets a user import the dashboard without
// editing it: every panel and query uses the ${datasource} variable, panel ids
// are unique, and variable queries only use variables defined before them.
func TestDashboardIsPortable(t *testing.T) {
	d, err := dashboard.Load()
	if err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both set (the provisioning and links use the uid)", d.UID, d.Title)
	}
	ids := map[int]string{}
	var walk func([]dashboard.Panel)
	walk = func(ps []dashboard.Panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if len(p.GridPos) == 0 {
				t.Errorf("panel %d %q has no gridPos", p.ID, p.Title)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, p := range d.AllPanels() {
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %d %q: datasource %+v, want uid ${datasource}", p.ID, p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %d %q target %s: datasource %+v, want uid ${datasource}", p.ID, p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
	defined := map[string]bool{}
	for k := range grafanaBuiltins {
		defined[k] = true
	}
	var haveDS bool
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			haveDS = v.Name == "datasource"
		}
		if v.Type == "query" {
			q, err := v.QueryString()
			if err != nil {
				t.Fatal(err)
			}
			if _, missing := dashboard.Expand(q, stringSet(defined)); len(missing) > 0 {
				t.Errorf("variable %s uses %v, not defined before it", v.Name, missing)
			}
			if v.AllValue != ".*" {
				t.Errorf("variable %s: allValue %q, want .* (queries match it with =~)", v.Name, v.AllValue)
			}
		}
		defined[v.Name] = true
	}
	if !haveDS {
		t.Error("no datasource variable named datasource")
	}
	for _, want := range []string{"site", "probe", "target"} {
		if !defined[want] {
			t.Errorf("no template variable %q", want)
		}
	}
}

func stringSet(m map[string]bool) map[string]string {
	out := map[string]string{}
	for k := range m {
		out[k] = "x"
	}
	return out
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// annotationQuery finds the PromQL a rule's annotation runs with `query`
// (written as a printf format in backquotes).
var annotationQuery = regexp.MustCompile("printf `([^`]+)`")

// TestRulesNameExportedMetrics parses every rule expression, and every query an
// annotation runs, and checks the metrics they name as the dashboard test does;
// recording rules of the same file count as known.
func TestRulesNameExportedMetrics(t *testing.T) {
	data, err := deploy.Files.ReadFile(deploy.RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(data, &rf); err != nil {
		t.Fatal(err)
	}
	c := exported(t)
	recorded := map[string]bool{}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			} else {
				alerts++
			}
		}
	}
	if alerts < 6 {
		t.Fatalf("%d alerts in %s; want at least 6", alerts, deploy.RulesFile)
	}
	check := func(where, expr string) {
		names, err := dashboard.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v\n  expr: %s", where, err, expr)
			return
		}
		for _, n := range names {
			if ok, _ := c.allows(n); !ok && !recorded[n] {
				t.Errorf("%s: %s is not a series linkmesh exports nor a recording rule here\n  expr: %s", where, n, expr)
			}
		}
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			check(name, r.Expr)
			for k, v := range r.Annotations {
				for _, m := range annotationQuery.FindAllStringSubmatch(v, -1) {
					// %q placeholders become quoted label values
					check(name+" annotation "+k, strings.ReplaceAll(m[1], "%q", `"x"`))
				}
			}
		}
	}
}
