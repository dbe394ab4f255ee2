package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startTLSMesh starts an in-process coordinator serving mTLS and honest probes
// sql1 and mi1 with their own certificates, and waits until both directions are up.
// standInPorts are the probes' --stand-in-ports (none: 5022).
func startTLSMesh(t *testing.T, p *testPKI, logs *logBuffer, extra string, standInPorts ...uint32) *coordinator.Server {
	t.Helper()
	cfg, err := config.Parse("tls.yaml", fmt.Appendf(nil, `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
defaults: {interval: 200ms, timeout: 150ms}
tls: {ca: %q, cert: %q, key: %q}
gossip: {disabled: true}
paths:
  - from: {site: sql}
    to: {site: mi}
  - from: {site: mi}
    to: {site: sql}
%s`, p.server.CA, p.server.Cert, p.server.Key, extra))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coord, err := coordinator.New(cfg, coordinator.Options{}, logs.logger().With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() { done <- coord.Run(ctx) }()
	key, err := meshkey.Generate() // for echo (check rounds); gossip is off
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range []string{"sql", "mi"} {
		name := site + "1"
		src, err := tlsconf.NewSource(p.probe(t, name), logs.logger())
		if err != nil {
			t.Fatal(err)
		}
		a, err := probe.New(probe.Config{
			Name: name, Site: site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        tlsconf.ClientCredentials(src, ""),
			Responder:    "127.0.0.1:0",
			BufferSize:   1000,
			MeshKey:      key,
			StandInPorts: standInPorts,
		}, logs.logger().With("probe", name))
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- a.Run(ctx) }()
	}
	t.Cleanup(func() {
		stopComponents(t, cancel, done, 3)
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	waitMetrics(t, "http://"+coord.HTTPAddr().String()+"/metrics", 15*time.Second, "sql1→mi1 and mi1→sql1 up over mTLS", func(s series) bool {
		a, okA := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
		b, okB := s.one("linkmesh_path_up", "source", "mi1", "target", "sql1")
		return okA && okB && a == 1 && b == 1
	})
	return coord
}

// attack dials the coordinator with creds and tries to register as claim and
// report a result for an "injected" target; it returns the first error.
func attack(t *testing.T, addr string, creds credentials.TransportCredentials, claim string) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := linkmeshv1.NewMeshServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, rerr := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: claim, Site: "sql", Epoch: 99}})
	_, perr := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: claim, Epoch: 99, Results: []*linkmeshv1.Result{{
		Seq: 1, Time: timestamppb.Now(), Kind: linkmeshv1.Kind_KIND_TCP, Target: "injected", TargetSite: "mi",
		Port: 5022, Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond),
	}}})
	if rerr != nil {
		return rerr
	}
	return perr
}

// TestMTLSRefusesImpostors: a client without a certificate, with one from
// another CA, with plain gRPC, or with probe mi1's certificate claiming to be
// sql1 (or a new probe) is refused with a log line saying why, and nothing it
// sent is counted, while the honest probes' paths stay up.
func TestMTLSRefusesImpostors(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	other := newPKI(t, "127.0.0.1")
	logs := &logBuffer{}
	coord := startTLSMesh(t, p, logs, "")
	addr := coord.GRPCAddr().String()
	caOnly := func(f tlsconf.Files) tlsconf.Files {
		return tlsconf.Files{CA: p.server.CA, Cert: f.Cert, Key: f.Key}
	}
	creds := func(f tlsconf.Files) credentials.TransportCredentials {
		src, err := tlsconf.NewSource(f, logs.logger())
		if err != nil {
			t.Fatal(err)
		}
		return tlsconf.ClientCredentials(src, "")
	}
	// A client that trusts our CA but has no certificate of its own.
	noCert := credentials.NewTLS((&tlsConfigNoCert{ca: p.server.CA}).config(t))
	foreign := other.probe(t, "sql1")
	tests := []struct {
		name    string
		creds   credentials.TransportCredentials
		claim   string
		logWant []string
	}{
		{"no certificate", noCert, "sql1", []string{"TLS handshake failed", "didn't provide a certificate"}},
		{"certificate from another CA", credentials.NewTLS(foreignConfig(t, foreign, p.server.CA)), "sql1", []string{"TLS handshake failed", "unknown authority"}},
		{"plain gRPC", insecure.NewCredentials(), "sql1", []string{"TLS handshake failed", "does not look like a TLS handshake"}},
		{"mi1's certificate claiming sql1", creds(caOnly(p.files("mi1"))), "sql1", []string{"certificate is for another probe", "certificate_probe=mi1", "claimed_probe=sql1"}},
		{"mi1's certificate claiming a new probe", creds(caOnly(p.files("mi1"))), "ghost", []string{"certificate is for another probe", "claimed_probe=ghost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := attack(t, addr, tt.creds, tt.claim)
			if err == nil {
				t.Fatal("the coordinator accepted the call")
			}
			t.Logf("refused: %v", err)
			waitfor.Cond(t, 5*time.Second, fmt.Sprintf("a log line with %q", tt.logWant), func() bool {
				return len(logs.lines(append([]string{"level=WARN"}, tt.logWant...)...)) > 0
			})
		})
	}
	s, err := scrape("http://" + coord.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.find("linkmesh_path_probes_total", "target", "injected"); len(got) != 0 {
		t.Errorf("an impostor's result was counted: %v", got)
	}
	if got := s.find("linkmesh_probe_up", "probe", "ghost"); len(got) != 0 {
		t.Errorf("an impostor registered a probe: %v", got)
	}
	for _, reason := range []string{"tls_handshake", "identity"} {
		if v, _ := s.one("linkmesh_coordinator_refused_total", "reason", reason); v < 1 {
			t.Errorf("linkmesh_coordinator_refused_total{reason=%q} = %v, want ≥ 1", reason, v)
		}
	}
	for k := range s.find("linkmesh_probe_up") {
		if !strings.Contains(k, `probe="sql1"`) && !strings.Contains(k, `probe="mi1"`) {
			t.Errorf("unexpected probe %s", k)
		}
	}
}
