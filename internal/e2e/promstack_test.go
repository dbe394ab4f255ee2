//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/deploy"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// This file runs Debian's Prometheus and Alertmanager inside the lab's router
// namespace, against the shipped rules, for TestLabAlerting.

// Ports on the router namespace's loopback (the namespace is the test's own).
const (
	labPrometheusPort   = 9090
	labAlertmanagerPort = 9093
)

// promBinaries finds prometheus and Alertmanager (Debian names it
// prometheus-alertmanager). It skips the test when one is missing, or fails it
// under CI=true, where .ci/run installs them.
func promBinaries(t *testing.T) (prometheus, alertmanager string) {
	t.Helper()
	var missing []string
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		missing = append(missing, "prometheus")
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if alertmanager, err = exec.LookPath(name); err == nil {
			break
		}
	}
	if alertmanager == "" {
		missing = append(missing, "prometheus-alertmanager (or alertmanager)")
	}
	if len(missing) == 0 {
		return prometheus, alertmanager
	}
	msg := fmt.Sprintf("needs %s on PATH (install: apt-get install -y prometheus prometheus-alertmanager)", strings.Join(missing, " and "))
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so this test must not skip", msg)
	}
	t.Skip(msg)
	return "", ""
}

// forScale divides every alert's for: in the rules the lab loads. The lab's
// stale_after is 5 s against the default 45 s, with 1 s scrape and evaluation
// intervals against 15 s, so 1/12 keeps the production ratios (LinkmeshPathDown's
// for: must outlast stale_after + scrape + evaluation).
const forScale = 12

// labRules returns the shipped rules file with every for: and every range
// window of the rule expressions ([5m] → [25s]) divided by forScale (rounded up
// to a second), and group intervals removed (the global 1 s applies). The
// windows scale with the rest: an alert such as LinkmeshPathDegraded weighs
// failures over a window against its for:, and a lab outage of a few seconds
// must stay as short against both as a production outage is. Everything else
// in the expressions, and labels and annotations, is untouched; it also
// returns the scaled for: of each alert.
func labRules(t *testing.T) ([]byte, map[string]time.Duration) {
	t.Helper()
	data, err := deploy.Files.ReadFile(deploy.RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	fors := map[string]time.Duration{}
	groups := mapValue(doc.Content[0], "groups")
	for _, g := range groups.Content {
		removeKey(g, "interval")
		for _, r := range mapValue(g, "rules").Content {
			if e := mapValue(r, "expr"); e != nil {
				e.Value = scaleWindows(t, e.Value)
			}
			f := mapValue(r, "for")
			if f == nil {
				continue
			}
			d, err := model.ParseDuration(f.Value)
			if err != nil {
				t.Fatalf("rule %s: for: %v", mapValue(r, "alert").Value, err)
			}
			scaled := time.Duration(math.Ceil(time.Duration(d).Seconds()/forScale)) * time.Second
			f.Value = scaled.String()
			fors[mapValue(r, "alert").Value] = scaled
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out, fors
}

// rangeWindow is a range selector's window in PromQL, e.g. [5m].
var rangeWindow = regexp.MustCompile(`\[([0-9]+[smhdwy])\]`)

// scaleWindows divides every range window of expr by forScale.
func scaleWindows(t *testing.T, expr string) string {
	return rangeWindow.ReplaceAllStringFunc(expr, func(w string) string {
		d, err := model.ParseDuration(w[1 : len(w)-1])
		if err != nil {
			t.Fatalf("window %s: %v", w, err)
		}
		scaled := time.Duration(math.Ceil(time.Duration(d).Seconds()/forScale)) * time.Second
		return "[" + model.Duration(scaled).String() + "]"
	})
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func removeKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}

// promStack is Prometheus and Alertmanager running in the router namespace,
// with a webhook receiver there.
type promStack struct {
	client *http.Client // dials from the router namespace
	prom   string       // http://127.0.0.1:9090
	hook   *webhook
}

// startPromStack starts the webhook, Alertmanager and Prometheus in router, all
// on its loopback, Prometheus scraping the coordinators at targets (host:port,
// job linkmesh) every second and evaluating rules every second. Cleanup stops
// them by pid (startProcess).
func startPromStack(t *testing.T, router *netlab.Host, rules []byte, targets ...string) *promStack {
	t.Helper()
	promBin, amBin := promBinaries(t)
	dir := t.TempDir()
	s := &promStack{
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: router.DialContext, DisableKeepAlives: true}},
		prom:   fmt.Sprintf("http://127.0.0.1:%d", labPrometheusPort),
	}
	s.hook = startWebhook(t, router)

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	amConfig := write("alertmanager.yml", fmt.Sprintf(`route:
  receiver: hook
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://%s/hook
        send_resolved: true
`, s.hook.addr))
	startProcess(t, router, "alertmanager", amBin,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "am-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", labAlertmanagerPort),
		"--cluster.listen-address=", // no gossip: a single Alertmanager
		"--log.level=info")
	s.waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/-/ready", labAlertmanagerPort), "alertmanager")

	write("linkmesh-rules.yml", string(rules))
	promConfig := write("prometheus.yml", fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [linkmesh-rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:%d"]}]
scrape_configs:
  - job_name: linkmesh
    static_configs: [{targets: [%s]}]
`, labAlertmanagerPort, quoteList(targets)))
	startProcess(t, router, "prometheus", promBin,
		"--config.file="+promConfig,
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", labPrometheusPort),
		"--rules.alert.resend-delay=1s",
		"--log.level=info")
	s.waitReady(t, s.prom+"/-/ready", "prometheus")
	return s
}

// quoteList is a YAML flow list's items: "a", "b".
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func (s *promStack) waitReady(t *testing.T, u, what string) {
	t.Helper()
	waitHTTPOK(t, s.client, u, 30*time.Second, what)
}

// promSeries is one series of a query result.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`  // instant: [ts, "v"]
	Values [][]any           `json:"values"` // range: [[ts, "v"], ...]
}

// api calls a Prometheus HTTP API endpoint and decodes data.result.
func (s *promStack) api(path string, params url.Values) ([]promSeries, error) {
	resp, err := s.client.PostForm(s.prom+path, params)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s %v: %s", path, params, body.Error)
	}
	if path == "/api/v1/series" {
		var labelsets []map[string]string
		if err := json.Unmarshal(body.Data, &labelsets); err != nil {
			return nil, err
		}
		out := make([]promSeries, len(labelsets))
		for i, l := range labelsets {
			out[i].Metric = l
		}
		return out, nil
	}
	var data struct {
		Result []promSeries `json:"result"`
	}
	if err := json.Unmarshal(body.Data, &data); err != nil {
		return nil, err
	}
	return data.Result, nil
}

// query evaluates expr now.
func (s *promStack) query(expr string) ([]promSeries, error) {
	return s.api("/api/v1/query", url.Values{"query": {expr}})
}

// queryRange evaluates expr over [start, end] every step, as Grafana does.
func (s *promStack) queryRange(expr string, start, end time.Time, step time.Duration) ([]promSeries, error) {
	return s.api("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {fmt.Sprintf("%.3f", float64(start.UnixMilli())/1000)},
		"end":   {fmt.Sprintf("%.3f", float64(end.UnixMilli())/1000)},
		"step":  {fmt.Sprintf("%gs", step.Seconds())},
	})
}

// series lists the series matching selector in [start, end] (what Grafana's
// label_values(selector, label) reads).
func (s *promStack) series(selector string, start, end time.Time) ([]promSeries, error) {
	return s.api("/api/v1/series", url.Values{
		"match[]": {selector},
		"start":   {fmt.Sprint(start.Unix())},
		"end":     {fmt.Sprint(end.Unix() + 1)},
	})
}

// waitQuery evaluates expr until ok accepts the result or timeout passes.
func (s *promStack) waitQuery(t *testing.T, timeout time.Duration, expr string, ok func([]promSeries) bool) {
	t.Helper()
	var last []promSeries
	var err error
	if waitfor.PollEvery(timeout, 250*time.Millisecond, func() bool {
		last, err = s.query(expr)
		return err == nil && ok(last)
	}) {
		return
	}
	t.Fatalf("after %v: %s: last result %+v (error %v)", timeout, expr, last, err)
}

// hostPort joins an address and port.
func hostPort(host string, port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }
