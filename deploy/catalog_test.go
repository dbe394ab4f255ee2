package deploy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/exporter"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe"
	"github.com/linkmesh/linkmesh/probe/sqlstate"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/credentials/insecure"
)

// catalog is what linkmesh exports, built from the code, not from a list kept by
// hand: the families a real in-process mesh serves on the coordinator's
// /metrics (with their types), every name the exporter describes (some series
// appear only on some paths), and the "Planned series" of docs/metrics.md that
// other work is adding (allowed, and reported).
type catalog struct {
	scraped   map[string]dto.MetricType
	described map[string]bool
	planned   map[string]bool
	// documented holds every linkmesh_ name docs/metrics.md mentions outside
	// its planned section.
	documented map[string]bool
}

// prometheusOwn are series Prometheus makes itself; a dashboard may use them.
var prometheusOwn = map[string]bool{"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true}

// allows reports whether a query may name the series name, and whether that is
// only because the series is planned.
func (c *catalog) allows(name string) (ok, planned bool) {
	if prometheusOwn[name] {
		return true, false
	}
	if typ, found := c.scraped[name]; found {
		return typ != dto.MetricType_HISTOGRAM && typ != dto.MetricType_SUMMARY, false
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, found := strings.CutSuffix(name, suffix); found {
			if typ, found := c.scraped[base]; found {
				return typ == dto.MetricType_HISTOGRAM || (typ == dto.MetricType_SUMMARY && suffix != "_bucket"), false
			}
		}
	}
	if c.described[name] {
		return true, false
	}
	return c.planned[name], c.planned[name]
}

var (
	catalogOnce sync.Once
	catalogVal  *catalog
	catalogErr  error
)

// exported returns the catalog, running the in-process mesh once per test binary.
func exported(t *testing.T) *catalog {
	t.Helper()
	catalogOnce.Do(func() { catalogVal, catalogErr = buildCatalog() })
	if catalogErr != nil {
		t.Fatalf("build the catalog of exported metrics: %v", catalogErr)
	}
	return catalogVal
}

func buildCatalog() (*catalog, error) {
	c := &catalog{described: map[string]bool{}}
	var err error
	if c.scraped, err = scrapeMesh(); err != nil {
		return nil, err
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		exporter.New(pathstate.New(time.Now), func() exporter.Settings { return exporter.Settings{StaleAfter: time.Minute} }, "coordinator:catalog").Describe(ch)
		// The probe's link-health series (--sql-dsn): the SQL alerts and the
		// dashboard's SQL Server row read them.
		for _, d := range sqlstate.Descs() {
			ch <- d
		}
		close(ch)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			c.described[m[1]] = true
		}
	}
	if len(c.described) == 0 {
		return nil, fmt.Errorf("the exporter described no metric")
	}
	if c.planned, c.documented, err = metricsDoc("../docs/metrics.md"); err != nil {
		return nil, err
	}
	return c, nil
}

// catalogMeshKey is the in-process mesh's key (echo attempts need one).
var catalogMeshKey = []byte("catalog-mesh-key-0123456789abcde")

// scrapeMesh runs a coordinator and two probes (sites sql and mi) on loopback,
// one direction echo (for its jitter; echo needs the mesh key), with a static
// target on a closed port so failures are counted too, until every path series
// is there, and returns the families of /metrics.
func scrapeMesh() (map[string]dto.MetricType, error) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	cfg, err := config.Parse("catalog.yaml", fmt.Appendf(nil, `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
metrics: {rtt_histogram: classic}
defaults: {interval: 100ms, timeout: 100ms}
paths:
  - {from: {site: sql}, to: {site: mi}, kind: echo}
  - {from: {site: mi}, to: {site: sql}}
  - {name: closed, from: {site: sql}, to: {address: 127.0.0.1, port: %d, site: mi, name: closed}}
`, closedPort))
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true, MeshKey: catalogMeshKey}, logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() { _ = coord.Run(ctx) })
	for _, site := range []string{"sql", "mi"} {
		a, err := probe.New(probe.Config{
			Name: site + "1", Site: site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			BufferSize:   1000,
			MeshKey:      catalogMeshKey,
		}, logger)
		if err != nil {
			return nil, err
		}
		wg.Go(func() { _ = a.Run(ctx) })
	}
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	client := &http.Client{Timeout: 5 * time.Second}
	var fams map[string]*dto.MetricFamily
	if waitfor.Poll(30*time.Second, func() bool {
		fams, err = scrape(client, url)
		// jitter needs an echo attempt's round trips; a refused closed port proves failures count.
		return err == nil && len(fams["linkmesh_path_jitter_seconds"].GetMetric()) >= 1 && hasZero(fams["linkmesh_path_up"])
	}) {
		out := map[string]dto.MetricType{}
		for name, f := range fams {
			out[name] = f.GetType()
		}
		return out, nil
	}
	return nil, fmt.Errorf("the in-process mesh did not export jitter on the echo path and a down path within 30 s (last error %v)", err)
}

func hasZero(f *dto.MetricFamily) bool {
	for _, m := range f.GetMetric() {
		if m.GetGauge().GetValue() == 0 {
			return true
		}
	}
	return false
}

func scrape(client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

var (
	docName     = regexp.MustCompile("`(linkmesh_[a-z0-9_]+)")
	plannedHead = regexp.MustCompile(`^## Planned series`)
)

// metricsDoc reads docs/metrics.md: the names in its "Planned series" section
// (there may be none), and every linkmesh_ name mentioned elsewhere in it.
func metricsDoc(path string) (planned, documented map[string]bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	planned, documented = map[string]bool{}, map[string]bool{}
	inPlanned := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			inPlanned = plannedHead.MatchString(line)
		}
		for _, m := range docName.FindAllStringSubmatch(line, -1) {
			if inPlanned {
				planned[m[1]] = true
			} else {
				documented[m[1]] = true
			}
		}
	}
	if len(documented) == 0 {
		return nil, nil, fmt.Errorf("%s: names no linkmesh_ series", path)
	}
	return planned, documented, nil
}

// TestMetricsDocMatchesExporter keeps docs/metrics.md true: every linkmesh series
// the coordinator serves or describes is documented, and a series listed as
// planned is not exported yet (when it is, move it into its table).
func TestMetricsDocMatchesExporter(t *testing.T) {
	c := exported(t)
	set := map[string]bool{}
	for n := range c.scraped {
		set[n] = true
	}
	for n := range c.described {
		set[n] = true
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasPrefix(n, "linkmesh_") {
			continue
		}
		if c.planned[n] {
			t.Errorf("%s is exported now: move it from \"Planned series\" into its table in docs/metrics.md", n)
		} else if !c.documented[n] {
			t.Errorf("%s is exported but docs/metrics.md does not describe it", n)
		}
	}
}
