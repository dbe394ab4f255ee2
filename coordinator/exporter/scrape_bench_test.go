package exporter

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// benchStore is a store with paths paths: probes of 100 paths each (half sql,
// half mi), every path with a window of attempts (mostly ok, some timeouts),
// as a mesh at that size holds after a few minutes.
func benchStore(b *testing.B, paths int) (*pathstate.Store, *clock) {
	b.Helper()
	c := &clock{now: t0}
	s := pathstate.New(c.Now)
	const perProbe = 100
	const attempts = 30
	for p := range paths / perProbe {
		site, other := "sql", "mi"
		if p%2 == 1 {
			site, other = "mi", "sql"
		}
		name := fmt.Sprintf("%s-probe-%04d", site, p)
		s.Register(info(name, site, "v1.2.3", "linux/amd64"))
		s.StreamOpened(name)
		var seq uint64
		batch := make([]*linkmeshv1.Result, 0, perProbe*attempts)
		for a := range attempts {
			at := t0.Add(time.Duration(a-attempts) * time.Second)
			for t := range perProbe {
				seq++
				code, rtt := linkmeshv1.Code_CODE_OK, time.Duration(800+t*3+a)*time.Microsecond
				if (t+a)%17 == 0 {
					code, rtt = linkmeshv1.Code_CODE_TIMEOUT, 0
				}
				batch = append(batch, result(seq, at, linkmeshv1.Kind_KIND_TCP, fmt.Sprintf("%s-target-%04d", other, t), other, 5022, code, rtt, 0))
			}
		}
		if _, err := s.Ingest(name, 1, 0, batch); err != nil {
			b.Fatal(err)
		}
	}
	return s, c
}

// BenchmarkScrape is one /metrics scrape of a coordinator holding 1k, 10k
// and 100k paths, through the coordinator's handler (exporter.Handler): as
// Prometheus asks by default (the text answer), as a Prometheus with native
// histograms asks (protobuf preferred, text taken: the text answer), and as a
// scraper that takes only protobuf asks (client_golang's gather and encoding).
// It reports the answer's size (uncompressed) and lines, and the Go heap in
// use after the scrapes with the store alive (a floor of the process's RSS:
// the store's memory per path shows there).
//
//	go test -run '^$' -bench BenchmarkScrape -benchtime 5x ./coordinator/exporter/
func BenchmarkScrape(b *testing.B) {
	formats := []struct{ name, accept string }{
		{"text", prometheusAccept},
		{"native-histograms", nativeHistogramsAccept}, // answered in text too
		{"protobuf", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"},
	}
	for _, n := range []int{1_000, 10_000, 100_000} {
		for _, f := range formats {
			b.Run(fmt.Sprintf("paths=%d/%s", n, f.name), func(b *testing.B) {
				benchScrape(b, n, f.accept)
			})
		}
	}
}

func benchScrape(b *testing.B, n int, accept string) {
	s, _ := benchStore(b, n)
	c := New(s, func() Settings { return Settings{StaleAfter: time.Hour} }, "coordinator:bench")
	h := Handler(c, prometheus.NewRegistry(), promhttp.HandlerOpts{})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	var w *countingWriter
	b.ResetTimer()
	for b.Loop() {
		w = &countingWriter{header: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("scrape: %d", w.code)
		}
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s) // the store is what the heap holds
	b.ReportMetric(float64(w.bytes)/1e6, "MB/scrape")
	if strings.HasPrefix(w.header.Get("Content-Type"), "text/plain") {
		b.ReportMetric(float64(w.lines), "lines/scrape")
		gz := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		gz.Header.Set("Accept", accept)
		gz.Header.Set("Accept-Encoding", "gzip")
		zw := &countingWriter{header: http.Header{}}
		h.ServeHTTP(zw, gz)
		b.ReportMetric(float64(zw.bytes)/1e6, "MB-gzip")
	}
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap")
	if rss, ok := rssMiB(); ok {
		b.ReportMetric(rss, "MiB-RSS")
	}
}

// rssMiB is this process's resident set (Linux), after the scrapes: the
// store, the benchmark's own garbage since the last GC, and the runtime.
func rssMiB() (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err == nil
		}
	}
	return 0, false
}

// countingWriter is an http.ResponseWriter that counts what a scrape writes
// and keeps none of it, as a socket would (a recorder's growing buffer would
// be measured too).
type countingWriter struct {
	header       http.Header
	code         int
	bytes, lines int
}

func (w *countingWriter) Header() http.Header  { return w.header }
func (w *countingWriter) WriteHeader(code int) { w.code = code }
func (w *countingWriter) Write(p []byte) (int, error) {
	w.bytes += len(p)
	w.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}
