package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/internal/statusview"
)

const statusSynopsis = `usage: linkmesh status --coordinator URL [--explain] [--watch] [--output table|json]

Prints what the coordinator's status page shows: for each pair of sites both
directions, every path's state (up, down, unknown and why), result, RTT, loss,
failures, age and MTU; what is not up, and with --explain what to change; the
probes; the last check rounds. URL is the coordinator's HTTP port, e.g.
http://coord.example.net:9022 (https:// when it has a web config with TLS).

Exit code: 0 every path up; 1 a path down; 2 cannot tell (a path unknown,
no paths, a rule of the policy that measures nothing, the coordinator did not
answer, or a usage error).`

// Status runs `linkmesh status`.
func Status(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusSynopsis, args, stdout, stderr)
	coord := fs.String("coordinator", "", "the coordinator's HTTP address: http://HOST:9022 (required; HOST:PORT means http://)")
	explain := fs.Bool("explain", false, "say for every problem what to change, step by step, with the commands")
	watch := fs.Duration("watch", 0, "redraw every interval (e.g. 5s) until Ctrl-C; the exit code is the last reading's")
	output := fs.String("output", "table", "table or json (the /api/v1/status answer with the verdict)")
	window := fs.Duration("window", 5*time.Minute, "the window RTT, loss and failure figures are computed over")
	ca := fs.String("tls-ca", "", "CA certificate to verify an https:// coordinator with (default: the system's)")
	cert := fs.String("tls-cert", "", "client certificate, when the coordinator's web config asks for one")
	key := fs.String("tls-key", "", "the client certificate's key")
	user := fs.String("user", "", "basic auth user, when the web config has basic_auth_users; the password is read from $LINKMESH_PASSWORD")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *coord == "" {
		return usageErrorf("status: --coordinator is required, e.g. --coordinator http://coord.example.net:9022")
	}
	if *output != "table" && *output != "json" {
		return usageErrorf("status: --output %q: use table or json", *output)
	}
	if *watch < 0 || (*watch > 0 && *watch < time.Second) {
		return usageErrorf("status: --watch %v: give at least 1s", *watch)
	}
	c, err := newStatusClient(*coord, *window, *ca, *cert, *key, *user)
	if err != nil {
		return &ExitError{Code: statusview.ExitUnknown, Err: err}
	}
	if *watch == 0 {
		return showStatus(ctx, c, stdout, *output, *explain, false)
	}
	t := time.NewTicker(*watch)
	defer t.Stop()
	for {
		err := showStatus(ctx, c, stdout, *output, *explain, true)
		if ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

// showStatus reads the status once and prints it; its error carries the
// verdict's exit code (nil: every path up).
func showStatus(ctx context.Context, c *statusClient, w io.Writer, output string, explain, redraw bool) error {
	st, err := c.get(ctx)
	if err != nil {
		if redraw && output == "table" {
			fmt.Fprintf(w, "\033[H\033[2J%s: cannot tell: %v (trying again)\n", time.Now().Format("15:04:05"), err)
		}
		return &ExitError{Code: statusview.ExitUnknown, Err: fmt.Errorf("cannot tell: %w", err)}
	}
	verdict, code := statusview.Verdict(st)
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Verdict string `json:"verdict"`
			coordinator.Status
		}{strings.ToLower(verdict), st}); err != nil {
			return err
		}
	} else {
		if redraw {
			fmt.Fprint(w, "\033[H\033[2J")
		}
		if err := statusview.Write(w, st, statusview.Options{Explain: explain, Probes: true, Rounds: true}); err != nil {
			return err
		}
	}
	switch code {
	case statusview.ExitDown:
		return &ExitError{Code: code, Err: fmt.Errorf("%d path(s) down", st.Summary.Down)}
	case statusview.ExitUnknown:
		return &ExitError{Code: code, Err: errors.New("cannot tell: " + unknownWhy(st))}
	}
	return nil
}

func unknownWhy(st coordinator.Status) string {
	switch {
	case len(st.Paths) == 0:
		return "no paths"
	case st.Summary.Unknown == 0:
		return fmt.Sprintf("%d rule(s) of the policy measure nothing", len(st.Idle))
	}
	return fmt.Sprintf("%d path(s) unknown", st.Summary.Unknown)
}

// statusClient reads /api/v1/status from one coordinator.
type statusClient struct {
	url    string
	user   string
	pass   string
	client *http.Client
}

func newStatusClient(addr string, window time.Duration, caFile, certFile, keyFile, user string) (*statusClient, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &UsageError{Err: fmt.Errorf("status: --coordinator %q: give http://HOST:PORT or https://HOST:PORT", addr)}
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1/status"
	u.RawQuery = url.Values{"window": {window.String()}}.Encode()
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
		}
		tlsCfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, &UsageError{Err: errors.New("status: give --tls-cert and --tls-key together")}
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{pair}
	}
	c := &statusClient{url: u.String(), user: user, pass: os.Getenv("LINKMESH_PASSWORD"),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}}}
	if user != "" && c.pass == "" {
		return nil, &UsageError{Err: errors.New("status: --user needs the password in $LINKMESH_PASSWORD")}
	}
	return c, nil
}

func (c *statusClient) get(ctx context.Context) (coordinator.Status, error) {
	var st coordinator.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return st, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return st, fmt.Errorf("the coordinator did not answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return st, fmt.Errorf("%s answered %s: %s", c.url, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("%s: not a linkmesh status answer: %w", c.url, err)
	}
	return st, nil
}
