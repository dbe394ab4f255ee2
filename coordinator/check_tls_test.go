package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// tlsMesh is a coordinator under mTLS with certificates from internal/pki:
// probes sql1 (site sql), sql2 (site sql), mi1 (site mi), legacy (no site),
// and the operators alice and bob.
type tlsMesh struct {
	t   *testing.T
	dir string
	s   *Server
}

func (m *tlsMesh) files(name string) tlsconf.Files {
	return tlsconf.Files{CA: filepath.Join(m.dir, "ca.crt"), Cert: filepath.Join(m.dir, name+".crt"), Key: filepath.Join(m.dir, name+".key")}
}

// newTLSMesh issues the certificates and starts the coordinator with extra
// config lines (e.g. check_rounds).
func newTLSMesh(t *testing.T, extra string) *tlsMesh {
	m := &tlsMesh{t: t, dir: t.TempDir()}
	const year = 365 * 24 * time.Hour
	ca, caPair, err := pki.NewCA("test CA", year)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, p pki.Pair, err error) {
		t.Helper()
		if err == nil {
			err = p.Write(m.files(name).Cert, m.files(name).Key, true)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	write("ca", caPair, nil)
	p, err := ca.IssueServer("coord", []string{"127.0.0.1"}, year)
	write("coord", p, err)
	for n, site := range map[string]string{"sql1": "sql", "sql2": "sql", "mi1": "mi"} {
		p, err := ca.IssueProbeSite(n, site, year)
		write(n, p, err)
	}
	p, err = ca.IssueProbe("legacy", year)
	write("legacy", p, err)
	for _, n := range []string{"alice", "bob"} {
		p, err := ca.IssueOperator(n, year)
		write(n, p, err)
	}
	server := m.files("coord")
	m.s = runServerWith(t, fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
# the fake probes advertise 127.0.0.2 and 127.0.0.3 and connect from 127.0.0.1
responder_cidrs: [127.0.0.0/8]
tls: {ca: %q, cert: %q, key: %q}
paths:
  - {from: {site: sql}, to: {site: mi}}
%s`, server.CA, server.Cert, server.Key, extra), Options{Insecure: true, CheckTimes: fastChecks}, nil)
	return m
}

// client dials the coordinator with name's certificate.
func (m *tlsMesh) client(name string) linkmeshv1.MeshServiceClient {
	src, err := tlsconf.NewSource(m.files(name), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		m.t.Fatal(err)
	}
	return dial(m.t, m.s.GRPCAddr().String(), grpc.WithTransportCredentials(tlsconf.ClientCredentials(src, "")))
}

// probes starts sql1 and mi1 with their own certificates.
func (m *tlsMesh) probes() {
	startProbe(m.t, m.s, m.client("sql1"), "sql1", "sql", "127.0.0.1:5023", nil)
	startProbe(m.t, m.s, m.client("mi1"), "mi1", "mi", "127.0.0.2:5023", nil)
}

func wantCode(t *testing.T, err error, code codes.Code, want string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), want) {
		t.Errorf("got %v, want %v with %q", err, code, want)
	}
}

func checkCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRunCheckProbeCertRefused: a probe certificate may not run a check
// round, not even for its own probe; only check_rounds.allow_probes lets one,
// and then only for itself (while it holds its one plan stream: a round is no
// plan stream).
func TestRunCheckProbeCertRefused(t *testing.T) {
	t.Run("not allowed", func(t *testing.T) {
		m := newTLSMesh(t, "")
		m.probes()
		for _, n := range []string{"sql1", "mi1", "sql2"} {
			_, _, err := runCheck(checkCtx(t), m.client(n), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
			wantCode(t, err, codes.PermissionDenied, "check rounds need an operator certificate")
		}
		if got := counterValue(t, m.s, "linkmesh_coordinator_check_round_requests_total", "caller", "probe/sql1", "result", "refused"); got != 1 {
			t.Errorf("check_round_requests_total{caller=probe/sql1,result=refused} %v, want 1", got)
		}
	})
	t.Run("allow_probes", func(t *testing.T) {
		m := newTLSMesh(t, "limits: {max_plan_streams_per_probe: 1}\ncheck_rounds: {allow_probes: [sql1]}\n")
		m.probes()
		_, _, err := runCheck(checkCtx(t), m.client("sql1"), &linkmeshv1.RunCheckRequest{Probe: "sql2"})
		wantCode(t, err, codes.PermissionDenied, `this certificate is for probe "sql1", allowed (check_rounds.allow_probes) to run rounds for itself only, not for "sql2"`)
		_, round, err := runCheck(checkCtx(t), m.client("sql1"), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
		if err != nil || round.GetPeer().GetName() != "mi1" {
			t.Errorf("sql1's own round with allow_probes: %v, round %v", err, round)
		}
	})
}

// TestRunCheckOperatorAllowed: an operator's certificate runs a round for a
// probe it is not, counted under its name.
func TestRunCheckOperatorAllowed(t *testing.T) {
	m := newTLSMesh(t, "")
	m.probes()
	_, round, err := runCheck(checkCtx(t), m.client("alice"), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
	if err != nil {
		t.Fatalf("alice's round: %v", err)
	}
	if round.GetProbe().GetName() != "sql1" || round.GetPeer().GetName() != "mi1" || round.GetSqlHost() != "127.0.0.1" {
		t.Errorf("round %v: want sql1 → mi1 with SQL host 127.0.0.1", round)
	}
	if got := counterValue(t, m.s, "linkmesh_coordinator_check_round_requests_total", "caller", "operator/alice", "result", "started"); got != 1 {
		t.Errorf("check_round_requests_total{caller=operator/alice,result=started} %v, want 1", got)
	}
	if got := counterValue(t, m.s, "linkmesh_coordinator_check_rounds_total", "outcome", "complete"); got != 1 {
		t.Errorf("check_rounds_total{outcome=complete} %v, want 1", got)
	}
	// An operator is no probe: it cannot register or report.
	_, err = m.client("alice").Register(checkCtx(t), &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "alice", Site: "sql", Epoch: 1}})
	wantCode(t, err, codes.Unauthenticated, "a probe certificate is required")
}

// TestRunCheckForeignSQLHostRefused: a round's SQL host is one of the probe's
// own addresses (or a name check_rounds.sql_host_names gives it): another host
// is refused, so no round scans or resolves what the operator names.
func TestRunCheckForeignSQLHostRefused(t *testing.T) {
	m := newTLSMesh(t, "check_rounds: {sql_host_names: {sql1: [sql1.corp.example]}}\n")
	m.probes()
	alice := m.client("alice")
	for _, host := range []string{"198.51.100.7", "mi1.corp.example", "127.0.0.2"} {
		_, _, err := runCheck(checkCtx(t), alice, &linkmeshv1.RunCheckRequest{Probe: "sql1", SqlHost: host, Attempts: 1})
		wantCode(t, err, codes.PermissionDenied, fmt.Sprintf("sql_host %q: not an address of probe sql1", host))
	}
	_, _, err := runCheck(checkCtx(t), alice, &linkmeshv1.RunCheckRequest{Probe: "sql1", SqlPort: 1433, Attempts: 1})
	wantCode(t, err, codes.InvalidArgument, "sql_port 1433: not one of the coordinator's check_rounds.sql_ports (5022)")
	for _, host := range []string{"127.0.0.1", "SQL1.corp.example."} {
		if _, round, err := runCheck(checkCtx(t), alice, &linkmeshv1.RunCheckRequest{Probe: "sql1", SqlHost: host, Attempts: 1}); err != nil || round.GetSqlHost() != host {
			t.Errorf("sql_host %s: %v, round %v", host, err, round)
		}
	}
}

// TestRunCheckRateLimited: each caller has check_rounds.burst rounds, then
// one per 60/rounds_per_minute seconds; the refusal says how long to wait, and
// another caller is not held up.
func TestRunCheckRateLimited(t *testing.T) {
	m := newTLSMesh(t, "check_rounds: {rounds_per_minute: 1, burst: 2}\n")
	m.probes()
	alice, bob := m.client("alice"), m.client("bob")
	for i := range 2 {
		if _, _, err := runCheck(checkCtx(t), alice, &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1}); err != nil {
			t.Fatalf("alice's round %d: %v", i+1, err)
		}
	}
	_, _, err := runCheck(checkCtx(t), alice, &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
	wantCode(t, err, codes.ResourceExhausted, "operator/alice runs check rounds faster than check_rounds allows (1 a minute, bursts of 2); retry after")
	if _, _, err := runCheck(checkCtx(t), bob, &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1}); err != nil {
		t.Errorf("bob's round after alice's limit: %v", err)
	}
	if got := counterValue(t, m.s, "linkmesh_coordinator_check_round_requests_total", "caller", "operator/alice", "result", "refused"); got != 1 {
		t.Errorf("check_round_requests_total{caller=operator/alice,result=refused} %v, want 1", got)
	}
}

// TestRegisterSiteMismatchRefused: a probe certificate records its site; a
// probe registering under another site is refused, saying which; a
// certificate from before sites is taken at its word.
func TestRegisterSiteMismatchRefused(t *testing.T) {
	m := newTLSMesh(t, "")
	reg := func(client, name, site string) error {
		_, err := m.client(client).Register(checkCtx(t), &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: name, Site: site, Epoch: 1}})
		return err
	}
	wantCode(t, reg("sql1", "sql1", "mi"), codes.PermissionDenied, `probe "sql1" registers as site "mi", but its certificate is for site "sql"`)
	if m.s.store.Known("sql1") {
		t.Error("sql1 is known after its refused registration")
	}
	if err := reg("sql1", "sql1", "sql"); err != nil {
		t.Errorf("sql1 of site sql: %v", err)
	}
	if err := reg("legacy", "legacy", "mi"); err != nil {
		t.Errorf("a certificate without a site: %v", err)
	}
}
