package coordinator

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/webtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// get sends a GET with optional basic auth and returns the status and body.
func get(t *testing.T, c *http.Client, url, user, password string) (int, string, http.Header, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header, err
}

// TestHTTPWebConfig: with web.config_file naming an exporter-toolkit web
// config (TLS and basic auth), the coordinator's HTTP port answers only TLS,
// and only to the configured user: no credentials or a wrong password 401,
// the right ones 200 on /metrics and /api/v1/paths; a client that does not
// trust the certificate, or speaks plain HTTP, gets no metrics.
func TestHTTPWebConfig(t *testing.T) {
	wc := webtest.Write(t, true)
	s := runServer(t, baseConfig+"web: {config_file: "+strconv.Quote(wc.File)+"}\n", nil)
	base := "https://" + s.HTTPAddr().String()

	for _, tc := range []struct {
		name, path, user, password string
		want                       int
	}{
		{"no credentials", "/metrics", "", "", http.StatusUnauthorized},
		{"wrong password", "/metrics", webtest.User, "guess", http.StatusUnauthorized},
		{"unknown user", "/api/v1/paths", "admin", webtest.Password, http.StatusUnauthorized},
		{"metrics", "/metrics", webtest.User, webtest.Password, http.StatusOK},
		{"api", "/api/v1/paths", webtest.User, webtest.Password, http.StatusOK},
	} {
		code, body, _, err := get(t, wc.Client, base+tc.path, tc.user, tc.password)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if code != tc.want {
			t.Errorf("%s: GET %s answered %d, want %d", tc.name, tc.path, code, tc.want)
		}
		if tc.want == http.StatusOK && tc.path == "/metrics" && !strings.Contains(body, "linkmesh_coordinator_results_ingested_total") {
			t.Errorf("%s: /metrics without the coordinator's series:\n%.300s", tc.name, body)
		}
		if tc.want != http.StatusOK && strings.Contains(body, "linkmesh_") {
			t.Errorf("%s: a refused request got data:\n%.300s", tc.name, body)
		}
	}

	// A client that does not trust the CA fails the handshake.
	if _, _, _, err := get(t, &http.Client{Timeout: 10 * time.Second}, base+"/metrics", webtest.User, webtest.Password); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET with an untrusting client: error %v, want a certificate error", err)
	}
	// Plain HTTP to the TLS port: Go's TLS server answers 400 and nothing else.
	code, body, _, err := get(t, &http.Client{Timeout: 10 * time.Second}, "http://"+s.HTTPAddr().String()+"/metrics", webtest.User, webtest.Password)
	if err == nil && (code == http.StatusOK || strings.Contains(body, "linkmesh_")) {
		t.Errorf("plain HTTP to the TLS port answered %d with data:\n%.300s", code, body)
	}
}

// TestHTTPBadWebConfig: a web config that does not load is refused, naming
// the file: by config validation (web.config_file, so --check-config says so
// too), and by New for --web.config.file; the coordinator never serves
// without the protection it was given.
func TestHTTPBadWebConfig(t *testing.T) {
	wc := webtest.Write(t, false)
	if err := os.WriteFile(wc.File, []byte("basic_auth_users:\n  prometheus: not-a-bcrypt-hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Parse("test.yaml", []byte(baseConfig+"web: {config_file: "+strconv.Quote(wc.File)+"}\n"))
	if err == nil || !strings.Contains(err.Error(), "web.config_file") || !strings.Contains(err.Error(), wc.File) {
		t.Errorf("config with a bad web config: error %v, want one naming web.config_file and %s", err, wc.File)
	}
	cfg, err := config.Parse("test.yaml", []byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Insecure: true, WebConfigFile: wc.File}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		s.closeListeners()
		t.Fatal("New with a bad --web.config.file succeeded")
	}
	if !strings.Contains(err.Error(), wc.File) {
		t.Errorf("New: error %v, want one naming %s", err, wc.File)
	}
}

// TestAPIConcurrencyCap: /api/v1/paths answers maxAPIInFlight requests at
// once; one more is refused at once with 503 and Retry-After, and counted.
// The handler is held (pathsHook) until the test releases it, so the requests
// are in flight for sure.
func TestAPIConcurrencyCap(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	s := runServer(t, baseConfig, func(s *Server) {
		s.pathsHook = func() {
			if hold.Load() {
				entered <- struct{}{}
				<-release
			}
		}
	})
	url := "http://" + s.HTTPAddr().String() + "/api/v1/paths"
	c := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	codes := make(chan int, maxAPIInFlight)
	for range maxAPIInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _, err := get(t, c, url, "", "")
			if err != nil {
				t.Error(err)
			}
			codes <- code
		}()
	}
	released := false
	defer func() {
		if !released {
			close(release)
		}
		wg.Wait()
	}()
	for range maxAPIInFlight {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the held requests did not reach the handler")
		}
	}
	code, _, hdr, err := get(t, c, url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("request %d answered %d (Retry-After %q), want 503 with Retry-After", maxAPIInFlight+1, code, hdr.Get("Retry-After"))
	}
	if n := testutil.ToFloat64(s.apiRefused); n != 1 {
		t.Errorf("linkmesh_coordinator_api_requests_refused_total = %v, want 1", n)
	}
	close(release)
	released = true
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a held request answered %d, want 200", code)
		}
	}
	// The slots are free again.
	hold.Store(false)
	if code, _, _, err := get(t, c, url, "", ""); err != nil || code != http.StatusOK {
		t.Errorf("after the release: %d, %v; want 200", code, err)
	}
}

// blockingCollector holds every Collect while armed, until release closes.
type blockingCollector struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingCollector) Describe(chan<- *prometheus.Desc) {}
func (b *blockingCollector) Collect(chan<- prometheus.Metric) {
	if b.armed.Load() {
		b.entered <- struct{}{}
		<-b.release
	}
}

// TestScrapeConcurrencyCap: /metrics serves maxScrapesInFlight scrapes at
// once and answers 503 to one more, counted in promhttp's own counter.
func TestScrapeConcurrencyCap(t *testing.T) {
	b := &blockingCollector{entered: make(chan struct{}), release: make(chan struct{})}
	s := runServer(t, baseConfig, func(s *Server) { s.reg.MustRegister(b) })
	url := "http://" + s.HTTPAddr().String() + "/metrics"
	c := &http.Client{Timeout: 30 * time.Second}
	b.armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range maxScrapesInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := c.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	defer wg.Wait()
	released := false
	defer func() {
		if !released {
			close(b.release)
		}
	}()
	for range maxScrapesInFlight {
		select {
		case <-b.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the held scrapes did not reach the collector")
		}
	}
	code, _, _, err := get(t, c, url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable {
		t.Errorf("scrape %d answered %d, want 503", maxScrapesInFlight+1, code)
	}
	b.armed.Store(false)
	close(b.release)
	released = true
	wg.Wait()
	_, body, _, err := get(t, c, url, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `promhttp_metric_handler_requests_total{code="503"} 1`) {
		t.Errorf("the refused scrape is not counted:\n%s", grepLines(body, "promhttp_metric_handler_requests_total"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestReloadRefusesWebConfigChange: the web config's path is read at start
// (TLS on or off is decided then); a reload that changes it is refused, so a
// coordinator never looks protected in its config file while serving
// without it.
func TestReloadRefusesWebConfigChange(t *testing.T) {
	wc := webtest.Write(t, false)
	s := runServer(t, baseConfig, nil)
	cfg, err := config.Parse("test.yaml", []byte(baseConfig+"web: {config_file: "+strconv.Quote(wc.File)+"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err == nil || !strings.Contains(err.Error(), "web.config_file") {
		t.Errorf("Reload with a new web.config_file: %v, want a refusal naming web.config_file", err)
	}
}
