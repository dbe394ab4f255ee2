package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/internal/dashboard"
)

// TestDashboardImportPromptAndJob: importing the dashboard asks for the
// Prometheus datasource (__inputs), a job variable keeps several meshes in one
// Prometheus apart and every linkmesh series in every query is filtered by it,
// and the source × target matrix panels exist for both directions, state and
// RTT, as tables that group by source and target.
func TestDashboardImportPromptAndJob(t *testing.T) {
	b, err := os.ReadFile("grafana/dashboards/linkmesh.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Inputs []struct {
			Name     string `json:"name"`
			PluginID string `json:"pluginId"`
		} `json:"__inputs"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if in := raw.Inputs; len(in) != 1 || in[0].Name != "DS_PROMETHEUS" || in[0].PluginID != "prometheus" {
		t.Errorf("__inputs %+v: want one prometheus datasource DS_PROMETHEUS", raw.Inputs)
	}
	if !strings.Contains(string(b), `"value": "${DS_PROMETHEUS}"`) {
		t.Error("the datasource variable does not default to the imported ${DS_PROMETHEUS}")
	}
	d, err := dashboard.Load()
	if err != nil {
		t.Fatal(err)
	}
	if d.Templating.List[1].Name != "job" {
		t.Errorf("second variable %q, want job (right after the datasource, before the variables that use it)", d.Templating.List[1].Name)
	}
	qs, err := d.Queries()
	if err != nil {
		t.Fatal(err)
	}
	series := regexp.MustCompile(`linkmesh_[a-z0-9_]+(\{[^}]*\})?`)
	for _, q := range qs {
		if q.Where == "variable job" || q.Where == "variable sqljob" || strings.Contains(q.Where, `"job"`) {
			continue
		}
		for _, m := range series.FindAllString(q.Expr, -1) {
			want := `job=~"$job"`
			if strings.HasPrefix(m, "linkmesh_sql_") {
				want = `job=~"$sqljob"` // the probes' scrape job, not the coordinators'
			}
			if !strings.Contains(m, want) {
				t.Errorf("%s: %s is not filtered by %s", q.Where, m, want)
			}
		}
	}
	matrices := map[string]bool{}
	for _, p := range d.AllPanels() {
		if p.Type == "table" && (strings.HasSuffix(p.Title, ": state") || strings.HasSuffix(p.Title, ": RTT p50")) {
			matrices[p.Title] = true
			if len(p.Targets) != 1 || !strings.Contains(p.Targets[0].Expr, "by (source, target") {
				t.Errorf("matrix %q: query %v does not group by source and target", p.Title, p.Targets)
			}
		}
	}
	for _, want := range []string{"sql → mi: state", "mi → sql: state", "sql → mi: RTT p50", "mi → sql: RTT p50"} {
		if !matrices[want] {
			t.Errorf("no matrix panel %q", want)
		}
	}
}
