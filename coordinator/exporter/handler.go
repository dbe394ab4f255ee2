package exporter

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Handler serves /metrics: rest (the registry holding everything but c) and
// c. A scraper that takes the text format — Prometheus always offers it —
// gets it from WriteText; one that prefers protobuf (a Prometheus with native
// histograms on) gets promhttp's answer over both, as before. opts are
// promhttp's: MaxRequestsInFlight bounds both kinds of answer together (a
// request beyond it gets 503 at once), Timeout and EnableOpenMetrics apply
// to the protobuf answer only (the text answer streams as it is written, and
// stops when the scraper goes away). Wrap the handler in
// promhttp.InstrumentMetricHandler to count scrapes.
func Handler(c *Collector, rest prometheus.Gatherer, opts promhttp.HandlerOpts) http.Handler {
	own := prometheus.NewRegistry()
	own.MustRegister(c)
	limit := opts.MaxRequestsInFlight
	opts.MaxRequestsInFlight = 0
	full := promhttp.HandlerFor(prometheus.Gatherers{rest, own}, opts)
	formats := expfmt.DefaultAcceptedFormats() // protobuf and text, as promhttp without OpenMetrics
	var inFlight chan struct{}
	if limit > 0 {
		inFlight = make(chan struct{}, limit)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			select {
			case inFlight <- struct{}{}:
				defer func() { <-inFlight }()
			default:
				http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", limit), http.StatusServiceUnavailable)
				return
			}
		}
		format := expfmt.NegotiateAccept(r.Header, formats...)
		if format.FormatType() != expfmt.TypeTextPlain {
			full.ServeHTTP(w, r)
			return
		}
		others, err := rest.Gather()
		if err != nil {
			if opts.ErrorLog != nil {
				opts.ErrorLog.Println("error gathering metrics:", err)
			}
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", string(format))
		h.Add("Vary", "Accept-Encoding")
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			defer gz.Close()
			out = gz
		}
		if err := c.WriteText(out, others); err != nil && opts.ErrorLog != nil {
			// Most often the scraper went away (its timeout): the answer is cut.
			opts.ErrorLog.Println("error writing metrics:", err)
		}
	})
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip (with a
// q above 0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				q, err := strconv.ParseFloat(v, 64)
				return err == nil && q > 0
			}
		}
		return true
	}
	return false
}
