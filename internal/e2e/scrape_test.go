package e2e

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// series maps a canonical series name (metric{k="v",...}, labels sorted) to its value.
// Histograms appear as name_count and name_sum.
type series map[string]float64

// scrape fetches and parses a /metrics page.
func scrape(url string) (series, error) {
	return scrapeWith(&http.Client{Timeout: 5 * time.Second}, url)
}

// scrapeWith fetches and parses a /metrics page with client (e.g. one that dials
// from inside a lab namespace).
func scrapeWith(client *http.Client, url string) (series, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	out := series{}
	for name, fam := range fams {
		for _, m := range fam.GetMetric() {
			key := canonical(name, m.GetLabel())
			switch {
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[canonical(name+"_count", m.GetLabel())] = float64(m.GetHistogram().GetSampleCount())
				out[canonical(name+"_sum", m.GetLabel())] = m.GetHistogram().GetSampleSum()
			case m.Untyped != nil:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out, nil
}

func canonical(name string, labels []*dto.LabelPair) string {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// key builds a canonical series name from "k", "v" pairs.
func key(name string, kv ...string) string {
	labels := make([]*dto.LabelPair, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	return canonical(name, labels)
}

// find returns the series of a metric whose labels include every given pair.
func (s series) find(name string, kv ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(k, fmt.Sprintf("%s=%q", kv[i], kv[i+1])) {
				ok = false
				break
			}
		}
		if ok {
			out[k] = v
		}
	}
	return out
}

// one returns the single series of name matching kv, and whether exactly one exists.
func (s series) one(name string, kv ...string) (float64, bool) {
	m := s.find(name, kv...)
	if len(m) != 1 {
		return 0, false
	}
	for _, v := range m {
		return v, true
	}
	return 0, false
}

// waitMetrics scrapes url until cond holds or timeout passes; it returns the last
// scrape and how long it took for cond to hold.
func waitMetrics(t testing.TB, url string, timeout time.Duration, what string, cond func(series) bool) (series, time.Duration) {
	t.Helper()
	return waitMetricsWith(t, &http.Client{Timeout: 5 * time.Second}, url, timeout, what, cond)
}

// waitMetricsWith is waitMetrics with a given HTTP client.
func waitMetricsWith(t testing.TB, client *http.Client, url string, timeout time.Duration, what string, cond func(series) bool) (series, time.Duration) {
	t.Helper()
	start := time.Now()
	var last series
	var lastErr error
	if waitfor.PollEvery(timeout, 100*time.Millisecond, func() bool {
		s, err := scrapeWith(client, url)
		lastErr = err
		if err != nil {
			return false
		}
		last = s
		return cond(s)
	}) {
		return last, time.Since(start)
	}
	t.Fatalf("after %v: %s did not happen (last scrape error: %v)\nlast linkmesh_path series:\n%s", timeout, what, lastErr, dumpPaths(last))
	return nil, 0
}

func dumpPaths(s series) string {
	var lines []string
	for k, v := range s {
		if strings.HasPrefix(k, "linkmesh_path_up") || strings.HasPrefix(k, "linkmesh_probe_up") || (strings.HasPrefix(k, "linkmesh_path_probes_total") && v > 0) {
			lines = append(lines, fmt.Sprintf("  %s %g", k, v))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
