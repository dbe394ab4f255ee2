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
// c. A scraper that takes the text format at all gets it, from WriteText —
// Prometheus always offers it, also when it prefers protobuf (native
// histograms on): linkmesh exports no native histogram, so the text answer
// carries the same samples at a quarter of the time and a fraction of the
// memory. Only a scraper that refuses text gets promhttp's answer over both
// (protobuf). opts are
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
		if !acceptsText(strings.Join(r.Header.Values("Accept"), ",")) {
			full.ServeHTTP(w, r)
			return
		}
		format := expfmt.NewFormat(expfmt.TypeTextPlain)
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

// acceptsText reports whether an Accept header takes the text format 0.0.4:
// no header, or text/plain (without a version or version 0.0.4), text/* or
// */* with a q above 0.
func acceptsText(header string) bool {
	if strings.TrimSpace(header) == "" {
		return true
	}
	for part := range strings.SplitSeq(header, ",") {
		params := strings.Split(part, ";")
		media := strings.ToLower(strings.TrimSpace(params[0]))
		if media != "text/plain" && media != "text/*" && media != "*/*" {
			continue
		}
		ok := true
		for _, p := range params[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "q":
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil || q <= 0 {
					ok = false
				}
			case "version":
				if media == "text/plain" && strings.Trim(strings.TrimSpace(v), `"`) != "0.0.4" {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
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
