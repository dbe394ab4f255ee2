// Package dashboard is a typed view of the shipped Grafana dashboard
// (deploy.DashboardFile): its panels, template variables and PromQL queries,
// with the helpers the tests use to expand Grafana's variables and list the
// metrics a query reads. Tests in deploy/ and internal/e2e check the dashboard
// through it against the metrics the code exports and a real Prometheus.
package dashboard

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/linkmesh/linkmesh/deploy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Query is one PromQL expression of the dashboard: a panel target or a template
// variable's query.
type Query struct {
	// Where names it for messages: `panel 7 "RTT p50" target B` or `variable site`.
	Where string
	// Panel is the panel's title ("" for a variable).
	Panel string
	// Expr is the expression as written, with Grafana variables ($site,
	// $__rate_interval) still in it. For a variable's label_values(SELECTOR,
	// LABEL) query, Expr is SELECTOR.
	Expr string
	// Variable is true for a template variable's query.
	Variable bool
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// Panel is one dashboard panel (rows included, with their nested panels).
type Panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *DatasourceRef  `json:"datasource"`
	Targets    []Target        `json:"targets"`
	Panels     []Panel         `json:"panels"`
	GridPos    json.RawMessage `json:"gridPos"`
}

// Target is one query of a panel.
type Target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *DatasourceRef `json:"datasource"`
}

// DatasourceRef points a panel or target at a datasource.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is a template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	AllValue   string          `json:"allValue"`
	Datasource *DatasourceRef  `json:"datasource"`
}

// Load parses the shipped dashboard.
func Load() (*Dashboard, error) {
	data, err := deploy.Files.ReadFile(deploy.DashboardFile)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", deploy.DashboardFile, err)
	}
	return &d, nil
}

// AllPanels returns every panel, rows' nested panels included, rows excluded.
func (d *Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var labelValues = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// Queries returns every PromQL expression of the dashboard: each panel target,
// then each query variable's selector. A variable query that is not
// label_values(SELECTOR, LABEL) is an error (nothing else is checked).
func (d *Dashboard) Queries() ([]Query, error) {
	var out []Query
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Query{Where: fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID), Panel: p.Title, Expr: t.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.QueryString()
		if err != nil {
			return nil, err
		}
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: m[1], Variable: true})
	}
	return out, nil
}

// QueryString returns the variable's query, which Grafana stores either as a
// string or as {"query": "..."}.
func (v Variable) QueryString() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &obj); err != nil {
		return "", fmt.Errorf("variable %s: query: %w", v.Name, err)
	}
	return obj.Query, nil
}

var grafanaVar = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}?`)

// Expand replaces Grafana variables ($name, ${name}, ${name:fmt}) in expr with
// values from vars, and reports the names it found no value for (sorted).
func Expand(expr string, vars map[string]string) (string, []string) {
	missing := map[string]bool{}
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := grafanaVar.FindStringSubmatch(m)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		missing[name] = true
		return m
	})
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	return out, names
}

// VariableNames returns the names of the dashboard's template variables.
func (d *Dashboard) VariableNames() []string {
	var out []string
	for _, v := range d.Templating.List {
		out = append(out, v.Name)
	}
	return out
}

// MetricNames parses expr with Prometheus's own PromQL parser and returns the
// metric names its selectors name, sorted; a selector that names no metric is
// an error. Grafana variables must be expanded first (Expand).
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var errs []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			errs = append(errs, fmt.Sprintf("selector %s names no metric", vs))
			return nil
		}
		seen[name] = true
		return nil
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
