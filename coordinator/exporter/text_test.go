package exporter

import (
	"bufio"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"
)

// gossipSource is a store whose view also has gossip states and round trips
// (which the store takes from memberlist and reports, here set by hand).
type gossipSource struct{ s *pathstate.Store }

func (g gossipSource) View(staleAfter, window time.Duration) pathstate.View {
	v := g.s.View(staleAfter, window)
	for i := range v.Probes {
		p := &v.Probes[i]
		switch p.Info.GetName() {
		case "sql01":
			p.Gossip = pathstate.GossipAlive
			p.CoordinatorRTT, p.CoordinatorRTTAt = 3*time.Millisecond, v.Taken.Add(-time.Second)
			p.MemberRTTs = map[string]pathstate.RTTSample{
				"mi02": {RTT: 2 * time.Millisecond, At: v.Taken}, "mi01": {RTT: time.Millisecond, At: v.Taken},
				"old": {RTT: time.Millisecond, At: v.Taken.Add(-time.Hour)},
			}
		case "mi01":
			p.Gossip = pathstate.GossipDead
			p.MemberRTTs = map[string]pathstate.RTTSample{"sql01": {RTT: 1500 * time.Microsecond, At: v.Taken}}
		}
	}
	return v
}

// textStore is the golden store with echo paths (MTU, throughput) and a
// port range on top.
func textStore(t *testing.T) Source {
	s, clk := goldenStore(t)
	const echo = linkmeshv1.Kind_KIND_ECHO
	hole := result(7, t0.Add(-5*time.Second), echo, "mi02", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 2)
	hole.MtuBytes, hole.MtuBlackhole, hole.ThroughputBitsPerSecond = 1400, true, 19.5e6
	hole.LossRatio, hole.Jitter = 0.1, durationpb.New(2*time.Millisecond)
	ranged := result(8, t0.Add(-5*time.Second), linkmeshv1.Kind_KIND_TCP, "mi-node", "mi", 11000, linkmeshv1.Code_CODE_REFUSED, 0, 0)
	ranged.PortEnd, ranged.RefusedIsReach, ranged.ProbedPort = 11999, true, 11500
	ingest(t, s, "sql01", 0, hole, ranged)
	clk.Set(t0)
	return gossipSource{s}
}

// rest is a registry of other metrics whose names sort before, between and
// after the collector's, as the coordinator's own do.
func rest() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	a := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aaa_total", Help: "First.\nWith a \\ newline."}, []string{"x"})
	a.WithLabelValues(`say "hi"\n`).Add(3)
	m := prometheus.NewGauge(prometheus.GaugeOpts{Name: "linkmesh_path_between", Help: "Between path families."})
	m.Set(0.25)
	z := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "zzz_seconds", Help: "Last.", Buckets: []float64{0.1, 1}})
	z.Observe(0.5)
	reg.MustRegister(a, m, z)
	return reg
}

// scrapeBody serves one request to h and returns the answer's body, decoded.
func scrapeBody(t *testing.T, h http.Handler, accept, encoding string) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	body := io.Reader(rec.Body)
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), rec.Header()
}

// prometheusAccept is what Prometheus 2.42 sends (OpenMetrics first).
const prometheusAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// TestTextMatchesPromhttp: the text answer is, byte for byte, what promhttp
// writes for the same registry and collector, with and without the classic
// histogram, gzip or not; a scraper that prefers protobuf but takes text (a
// Prometheus with native histograms on) gets the text answer too, one that
// takes only protobuf gets promhttp's protobuf answer.
func TestTextMatchesPromhttp(t *testing.T) {
	src := textStore(t)
	for _, histogram := range []bool{false, true} {
		set := func() Settings { return Settings{StaleAfter: staleAfter, RTTHistogram: histogram} }
		c := New(src, set, self)
		others := rest()
		own := prometheus.NewPedanticRegistry()
		own.MustRegister(c)
		want, _ := scrapeBody(t, promhttp.HandlerFor(prometheus.Gatherers{others, own}, promhttp.HandlerOpts{}), "text/plain", "")
		h := Handler(c, others, promhttp.HandlerOpts{MaxRequestsInFlight: 2})
		for _, enc := range []string{"", "gzip", "gzip;q=0", "br, gzip;q=0.5"} {
			got, hdr := scrapeBody(t, h, prometheusAccept, enc)
			if got != want {
				t.Errorf("histogram %v, Accept-Encoding %q: text answer differs from promhttp's:\n%s", histogram, enc, firstDiff(got, want))
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type %q, want text/plain; version=0.0.4", ct)
			}
			if gz := hdr.Get("Content-Encoding") == "gzip"; gz != (enc == "gzip" || enc == "br, gzip;q=0.5") {
				t.Errorf("Accept-Encoding %q: gzip %v", enc, gz)
			}
		}
		for _, name := range []string{"linkmesh_probe_gossip_alive", "linkmesh_member_rtt_seconds", "linkmesh_path_mtu_blackhole", "linkmesh_path_syn_retransmits_total", "linkmesh_probe_info", "aaa_total", "zzz_seconds_bucket", `port="11000-11999"`} {
			if !strings.Contains(want, name) {
				t.Errorf("the compared answer has no %s: the test covers less than it says", name)
			}
		}
		if strings.Contains(want, "linkmesh_path_rtt_seconds") != histogram {
			t.Errorf("histogram %v: linkmesh_path_rtt_seconds in the answer: %v", histogram, !histogram)
		}

		got, _ := scrapeBody(t, h, nativeHistogramsAccept, "")
		if got != want {
			t.Errorf("histogram %v, protobuf preferred, text taken: not the text answer:\n%s", histogram, firstDiff(got, want))
		}
		_, hdr := scrapeBody(t, h, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "")
		if ct := hdr.Get("Content-Type"); !strings.Contains(ct, "application/vnd.google.protobuf") {
			t.Errorf("protobuf asked for: Content-Type %q", ct)
		}
	}
}

// nativeHistogramsAccept is what a Prometheus with native histograms on
// sends (scrape_protocols' default then: protobuf first, text last).
const nativeHistogramsAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.1,*/*;q=0.05"

// TestAcceptsText: which Accept headers take the text format 0.0.4.
func TestAcceptsText(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   bool
	}{
		{"", true},
		{prometheusAccept, true},
		{nativeHistogramsAccept, true},
		{"text/plain", true},
		{"text/plain; version=0.0.4; charset=utf-8", true},
		{`text/plain;version="0.0.4"`, true},
		{"TEXT/PLAIN", true},
		{"text/*;q=0.1", true},
		{"*/*", true},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", false},
		{"text/plain;version=1.0.0", false},
		{"text/plain;q=0", false},
		{"application/json, */*;q=0", false},
		{"text/plain;q=bad", false},
	} {
		if got := acceptsText(tc.accept); got != tc.want {
			t.Errorf("acceptsText(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

// firstDiff shows where two answers part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n got  " + g[i] + "\n want " + w[i]
		}
	}
	return "lengths differ: got " + strconv.Itoa(len(g)) + " lines, want " + strconv.Itoa(len(w))
}

// TestTextLimit: beyond MaxRequestsInFlight, 503 at once.
func TestTextLimit(t *testing.T) {
	src := textStore(t)
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		entered <- struct{}{}
		<-block
		return nil, nil
	})
	h := Handler(New(src, settings, self), slow, promhttp.HandlerOpts{MaxRequestsInFlight: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}()
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	close(block)
	<-done
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("second scrape while one runs with MaxRequestsInFlight 1: %d, want 503", rec.Code)
	}
}

// TestTextEscaping: label values and help texts are escaped as expfmt does
// (names the store admits never need it, but a label value is input).
func TestTextEscaping(t *testing.T) {
	for _, tc := range []struct {
		in    string
		quote bool
		want  string
	}{
		{`plain`, true, `plain`},
		{"a\"b\\c\nd", true, `a\"b\\c\nd`},
		{"a\"b\\c\nd", false, `a"b\\c\nd`},
	} {
		var b strings.Builder
		bw := bufio.NewWriter(&b)
		tw := &textWriter{w: bw}
		tw.escaped(tc.in, tc.quote)
		bw.Flush()
		if b.String() != tc.want {
			t.Errorf("escaped(%q, quote %v) = %q, want %q", tc.in, tc.quote, b.String(), tc.want)
		}
	}
}
