package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/probe/report"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// metrics are the probe's own series, served on --metrics. They let an operator
// (and the tests) check the coordinator's figures against what the probe did.
type metrics struct {
	reg      *prometheus.Registry
	attempts *prometheus.CounterVec
	// rounds counts the attempts of on-demand check rounds, which the
	// coordinator keeps out of path state (and so out of attempts).
	rounds *prometheus.CounterVec
}

func newMetrics(buf *report.Buffer) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_probe_attempts_total",
			Help: "Attempts this probe process made on its planned paths, by target and result (check rounds' attempts are in linkmesh_probe_check_round_attempts_total); the coordinator's linkmesh_path_probes_total for the same path counts the same attempts once delivered.",
		}, []string{"target", "target_site", "port", vocab.KindLabel, vocab.ResultLabel}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_probe_check_round_attempts_total",
			Help: "Attempts this probe process made for on-demand check rounds (linkmesh check --coordinator), by target and result; no path series counts them.",
		}, []string{"target", "target_site", "port", vocab.KindLabel, vocab.ResultLabel}),
	}
	m.reg.MustRegister(m.attempts, m.rounds,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "linkmesh_probe_dropped_results_total",
			Help: "Results dropped, oldest first, because the buffer was full while no coordinator took them (continues across restarts with a spool).",
		}, func() float64 { return float64(buf.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "linkmesh_probe_buffered_results",
			Help: "Results held until every coordinator has acked them durably.",
		}, func() float64 { return float64(buf.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "linkmesh_probe_last_sequence_number",
			Help: "Sequence number of the latest result (continues across restarts with a spool).",
		}, func() float64 { return float64(buf.LastSeq()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "linkmesh_probe_spool_errors_total",
			Help: "Failed writes to the disk spool (results stay in memory meanwhile).",
		}, func() float64 { return float64(buf.SpoolErrors()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "linkmesh_probe_spool_damaged_records_total",
			Help: "Records found damaged (checksum, torn write) and lost when the spool was opened; the log says which segment and sequence numbers.",
		}, func() float64 { return float64(buf.SpoolDamaged()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Collector(),
	)
	m.reg.MustRegister(ackedCollector{buf: buf, desc: prometheus.NewDesc("linkmesh_probe_acked_sequence_number",
		"The highest sequence number the coordinator has acked durably.", []string{"coordinator"}, nil)})
	return m
}

// ackedCollector exports each coordinator's cursor (coordinators come and go
// with gossip, so the series are built at scrape time).
type ackedCollector struct {
	buf  *report.Buffer
	desc *prometheus.Desc
}

func (c ackedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c ackedCollector) Collect(ch chan<- prometheus.Metric) {
	for coord, seq := range c.buf.Consumers() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(seq), coord)
	}
}

// counting wraps the buffer as the scheduler's recorder and counts attempts.
type counting struct {
	buf *report.Buffer
	m   *metrics
}

func (c counting) Record(r *linkmeshv1.Result) {
	vec := c.m.attempts
	if r.GetRound() != "" {
		vec = c.m.rounds
	}
	vec.WithLabelValues(r.GetTarget(), r.GetTargetSite(), portLabel(r.GetPort(), r.GetPortEnd()),
		vocab.KindName(r.GetKind()), vocab.CodeName(r.GetCode())).Inc()
	c.buf.Record(r)
}

// portLabel is the `port` label of a path, as the coordinator's: "5022", or the
// range "11000-11999" for a port range (one path whatever port an attempt
// tried; the result's detail names that port).
func portLabel(port, end uint32) string {
	if end > port {
		return strconv.FormatUint(uint64(port), 10) + "-" + strconv.FormatUint(uint64(end), 10)
	}
	return strconv.FormatUint(uint64(port), 10)
}

// maxScrapesInFlight bounds concurrent scrapes of the probe's /metrics; over
// it the answer is 503 at once (counted in
// promhttp_metric_handler_requests_total{code="503"}).
const maxScrapesInFlight = 4

// validateWebConfig checks the --web.config.file (TLS, basic auth) of the
// probe's /metrics: it must parse, and its certificates and hashes load.
func validateWebConfig(file, metricsAddr string) error {
	if file == "" {
		return nil
	}
	if metricsAddr == "" {
		return fmt.Errorf("--web.config.file %s secures --metrics, which is off; give --metrics too", file)
	}
	if err := web.Validate(file); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", file, err)
	}
	return nil
}

// serve serves /metrics on lis until ctx is done, with TLS and basic auth as
// webConfigFile says ("": plain HTTP; exporter-toolkit re-reads the file on
// every request and TLS handshake).
func (m *metrics) serve(ctx context.Context, lis net.Listener, webConfigFile string, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: maxScrapesInFlight, Timeout: 10 * time.Second})))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- web.Serve(lis, srv, &web.FlagConfig{WebConfigFile: &webConfigFile}, logger) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
