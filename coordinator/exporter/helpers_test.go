package exporter

import (
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// t0 is the scrape time of the golden test (coordinator clock).
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

func info(name, site, version, os string) *linkmeshv1.ProbeInfo {
	return &linkmeshv1.ProbeInfo{Name: name, Site: site, Version: version, Os: os, ResponderAddress: "10.0.0.1:5023", Epoch: 1}
}

// result is an attempt on target:port started at `at` (probe clock); rtt 0 means
// not measured.
func result(seq uint64, at time.Time, kind linkmeshv1.Kind, target, site string, port uint32, code linkmeshv1.Code, rtt time.Duration, syn uint32) *linkmeshv1.Result {
	r := &linkmeshv1.Result{
		Seq:            seq,
		Time:           timestamppb.New(at),
		Kind:           kind,
		Target:         target,
		TargetSite:     site,
		Port:           port,
		Code:           code,
		SynRetransmits: syn,
	}
	if rtt > 0 {
		r.Rtt = durationpb.New(rtt)
	}
	return r
}

// register registers a probe and opens its plan stream, as a live probe does.
func register(s *pathstate.Store, p *linkmeshv1.ProbeInfo) {
	s.Register(p)
	s.StreamOpened(p.GetName())
}

func ingest(t *testing.T, s *pathstate.Store, probe string, dropped uint64, rs ...*linkmeshv1.Result) {
	t.Helper()
	req := &linkmeshv1.ReportRequest{Probe: probe, Epoch: 1, Results: rs, DroppedTotal: dropped}
	if err := pathstate.ValidateReport(req); err != nil {
		t.Fatalf("the test's batch is invalid: %v", err)
	}
	if _, err := s.Ingest(probe, 1, dropped, rs); err != nil {
		t.Fatalf("Ingest(%s): %v", probe, err)
	}
}

// goldenStore builds the mesh of testdata/metrics.txt, clock set to t0:
//   - sql01 reported 5 s ago (up): mi01:5023/tcp ok twice (1 ms, and 2.5 ms exactly
//     on a bucket bound), the MI endpoint 5022/tcp ok then refused, a dns failure;
//     seq 3 is missing and it dropped 2 results;
//   - sql02 last reported 100 s ago (stale): one failure on mi01:5023/tcp, older
//     than the loss/jitter window;
//   - mi01 (the target of the mi01:5023 paths) reported 5 s ago too;
//   - mi02 registered and never reported.
func goldenStore(t *testing.T) (*pathstate.Store, *clock) {
	t.Helper()
	clk := &clock{now: t0.Add(-100 * time.Second)}
	s := pathstate.New(clk.Now)
	const tcp, dns = linkmeshv1.Kind_KIND_TCP, linkmeshv1.Kind_KIND_DNS

	register(s, info("sql02", "sql", "v1.0.0", "windows/amd64"))
	ingest(t, s, "sql02", 0,
		result(1, t0.Add(-400*time.Second), tcp, "mi01", "mi", 5023, linkmeshv1.Code_CODE_UNREACHABLE, 0, 0))
	register(s, info("mi01", "mi", "v1.2.3", "linux/amd64"))
	register(s, info("mi02", "mi", "v1.2.3", "linux/amd64"))

	clk.Set(t0.Add(-5 * time.Second))
	ingest(t, s, "mi01", 0)
	register(s, info("sql01", "sql", "v1.2.3", "linux/amd64"))
	ingest(t, s, "sql01", 2,
		result(1, t0.Add(-40*time.Second), tcp, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0),
		result(2, t0.Add(-30*time.Second), tcp, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, 2500*time.Microsecond, 0),
		// seq 3 never arrives
		result(4, t0.Add(-20*time.Second), tcp, "mi1.example.net", "mi", 5022, linkmeshv1.Code_CODE_OK, 20*time.Millisecond, 1),
		result(5, t0.Add(-10*time.Second), tcp, "mi1.example.net", "mi", 5022, linkmeshv1.Code_CODE_REFUSED, 300*time.Microsecond, 0),
		result(6, t0.Add(-10*time.Second), dns, "mi1.example.net", "mi", 0, linkmeshv1.Code_CODE_DNS, 0, 0),
	)
	clk.Set(t0)
	return s, clk
}

func newRegistry(t *testing.T, s Source) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(New(s, settings, self)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return reg
}

// series indexes a gather: metric name → rendered label set → metric.
type series map[string]map[string]*dto.Metric

func gather(t *testing.T, g prometheus.Gatherer) series {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := series{}
	for _, mf := range mfs {
		out[mf.GetName()] = map[string]*dto.Metric{}
		for _, m := range mf.GetMetric() {
			out[mf.GetName()][labelString(m)] = m
		}
	}
	return out
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func pathLabelString(source, sourceSite, target, targetSite, port, kind string, extra ...string) string {
	parts := append([]string{"source=" + source, "source_site=" + sourceSite, "target=" + target,
		"target_site=" + targetSite, "port=" + port, "kind=" + kind}, extra...)
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// settings are the collector's settings in these tests: the default metrics.
func settings() Settings { return Settings{StaleAfter: staleAfter} }

// classicRegistry is newRegistry with metrics.rtt_histogram: classic.
func classicRegistry(t *testing.T, s Source) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(s, func() Settings { return Settings{StaleAfter: staleAfter, RTTHistogram: true} }, self))
	return reg
}
