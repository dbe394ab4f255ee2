package probe

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/internal/webtest"
	"google.golang.org/grpc/credentials/insecure"
)

// TestMetricsWebConfig: a probe started with --metrics and a web config (TLS
// and basic auth) serves its /metrics only over TLS and only to the
// configured user: 401 without or with wrong credentials, 200 with the right
// ones; plain HTTP to the port gets no metrics.
func TestMetricsWebConfig(t *testing.T) {
	wc := webtest.Write(t, true)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{Name: "sql1", Site: "sql", Coordinators: []string{"127.0.0.1:1"}, Creds: insecure.NewCredentials(),
		BufferSize: 10, Insecure: true, Metrics: "127.0.0.1:0", WebConfigFile: wc.File}, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	url := "https://" + a.MetricsAddr().String() + "/metrics"
	scrape := func(c *http.Client, url, user, password string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for _, tc := range []struct {
		user, password string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{webtest.User, "guess", http.StatusUnauthorized},
		{webtest.User, webtest.Password, http.StatusOK},
	} {
		code, body, err := scrape(wc.Client, url, tc.user, tc.password)
		if err != nil {
			t.Fatalf("user %q: %v", tc.user, err)
		}
		if code != tc.want {
			t.Errorf("user %q password %q: %d, want %d", tc.user, tc.password, code, tc.want)
		}
		if got := strings.Contains(body, "linkmesh_probe_buffered_results"); got != (tc.want == http.StatusOK) {
			t.Errorf("user %q: metrics in the answer %v, want %v", tc.user, got, tc.want == http.StatusOK)
		}
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if code, body, err := scrape(plain, "http://"+a.MetricsAddr().String()+"/metrics", webtest.User, webtest.Password); err == nil && (code == http.StatusOK || strings.Contains(body, "linkmesh_")) {
		t.Errorf("plain HTTP to the TLS port answered %d with metrics", code)
	}
}

// TestMetricsWebConfigChecked: a web config that does not load, or one given
// without --metrics, is refused before the probe starts.
func TestMetricsWebConfigChecked(t *testing.T) {
	wc := webtest.Write(t, false)
	base := Config{Name: "sql1", Site: "sql", Coordinators: []string{"127.0.0.1:1"}, Creds: insecure.NewCredentials(), BufferSize: 10, Insecure: true}
	c := base
	c.WebConfigFile = wc.File
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Errorf("web config without --metrics: %v, want an error naming --metrics", err)
	}
	c.Metrics = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Errorf("valid web config: %v", err)
	}
	c.WebConfigFile = wc.File + ".missing"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--web.config.file") {
		t.Errorf("missing web config: %v, want an error naming --web.config.file", err)
	}
}

// TestHealthzAndBuildInfo: a probe with --metrics answers /healthz while it
// runs and names its build in linkmesh_build_info.
func TestHealthzAndBuildInfo(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{Name: "sql1", Site: "sql", Coordinators: []string{"127.0.0.1:1"}, Creds: insecure.NewCredentials(),
		BufferSize: 10, Insecure: true, Metrics: "127.0.0.1:0"}, discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	get := func(path string) (int, string) {
		var code int
		var body string
		waitfor.Cond(t, 5*time.Second, "an answer on "+path, func() bool {
			resp, err := http.Get("http://" + a.MetricsAddr().String() + path)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			code, body = resp.StatusCode, string(b)
			return true
		})
		return code, body
	}
	if code, body := get("/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "linkmesh_build_info{") {
		t.Error("/metrics has no linkmesh_build_info")
	}
}
