package echo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder"
)

// startResponderWith runs a real responder with cfg on 127.0.0.1:0.
func startResponderWith(t testing.TB, cfg responder.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := responder.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// testCA is a mesh CA for the tests: it issues probe certificates.
type testCA struct {
	ca   *pki.CA
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	ca, pair, err := pki.NewCA("echo test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pair.CertPEM)
	return &testCA{ca: ca, pool: pool}
}

// cert returns a certificate source for probe name.
func (c *testCA) cert(t testing.TB, name string) func() *tls.Certificate {
	t.Helper()
	pair, err := c.ca.IssueProbe(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return func() *tls.Certificate { return &cert }
}

// TestIdentity: the echo attempt compares the probe that proved itself with the
// plan's target — by the name bound into the mesh-key proof, and, with the
// mesh CA, by the responder's certificate.
func TestIdentity(t *testing.T) {
	mesh, other := newTestCA(t), newTestCA(t)
	roots := func() *x509.CertPool { return mesh.pool }
	tests := []struct {
		name    string
		resp    responder.Config
		roots   func() *x509.CertPool
		expect  string
		want    attempt.Code
		details []string
	}{
		{name: "key only: the expected probe", resp: responder.Config{Key: key, Name: "mi1"}, expect: "mi1",
			want: attempt.OK, details: []string{"responder mi1 proved the mesh key;"}},
		{name: "key only: another probe", resp: responder.Config{Key: key, Name: "mi2"}, expect: "mi1",
			want: attempt.Mismatch, details: []string{"answered by probe mi2, expected mi1", "--advertise"}},
		{name: "key only: this probe's own responder", resp: responder.Config{Key: key, Name: "sql1"}, expect: "mi1",
			want: attempt.Mismatch, details: []string{"answered by probe sql1", "this probe's own responder", "expected mi1", "points back here"}},
		{name: "key only: no expected name, this probe", resp: responder.Config{Key: key, Name: "sql1"},
			want: attempt.Mismatch, details: []string{"this probe's own responder"}},
		{name: "key only: no expected name, another probe", resp: responder.Config{Key: key, Name: "mi7"},
			want: attempt.OK, details: []string{"responder mi7 proved the mesh key;"}},
		{name: "key only: a static target named by its address", resp: responder.Config{Key: key, Name: "mi1"}, expect: "10.1.2.9",
			want: attempt.Mismatch, details: []string{"answered by probe mi1, expected 10.1.2.9", "to.name"}},
		{name: "key only: the responder names no probe", resp: responder.Config{Key: key}, expect: "mi1",
			want: attempt.Mismatch, details: []string{"does not say which probe it is", "expected probe mi1"}},
		{name: "certificate: the expected probe", resp: responder.Config{Key: key, Name: "mi1", Certificate: mesh.cert(t, "mi1")}, roots: roots, expect: "mi1",
			want: attempt.OK, details: []string{"responder mi1 proved the mesh key and its certificate;"}},
		{name: "certificate: another probe's", resp: responder.Config{Key: key, Name: "mi1", Certificate: mesh.cert(t, "mi2")}, roots: roots, expect: "mi1",
			want: attempt.Mismatch, details: []string{"answered by probe mi2 (by its certificate), expected mi1", "claimed to be mi1"}},
		{name: "certificate: from another CA", resp: responder.Config{Key: key, Name: "mi1", Certificate: other.cert(t, "mi1")}, roots: roots, expect: "mi1",
			want: attempt.Mismatch, details: []string{"not one of this mesh's CA"}},
		{name: "certificate: a key holder without one posing as mi1", resp: responder.Config{Key: key, Name: "mi1"}, roots: roots, expect: "mi1",
			want: attempt.Mismatch, details: []string{"says it is probe mi1", "no certificate from the mesh CA"}},
		{name: "certificate: another probe, by the name in its hello", resp: responder.Config{Key: key, Name: "mi2", Certificate: mesh.cert(t, "mi2")}, roots: roots, expect: "mi1",
			want: attempt.Mismatch, details: []string{"answered by probe mi2, expected mi1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startResponderWith(t, tt.resp)
			p := Prober{Key: key, Name: "sql1", Roots: tt.roots}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res := p.Probe(ctx, addr, Options{Rounds: 2, Expect: tt.expect})
			if res.Code != tt.want {
				t.Fatalf("got %s %q, want %s", res.Code, res.Detail, tt.want)
			}
			for _, d := range tt.details {
				if !strings.Contains(res.Detail, d) {
					t.Errorf("detail %q lacks %q", res.Detail, d)
				}
			}
		})
	}
}

// TestIdentityThroughMTUCheck: the path-MTU check's extra connections say
// hello with the same expectation, and an attempt with the check still
// proves the certificate.
func TestIdentityThroughMTUCheck(t *testing.T) {
	mesh := newTestCA(t)
	addr := startResponderWith(t, responder.Config{Key: key, Name: "mi1", Certificate: mesh.cert(t, "mi1")})
	p := Prober{Key: key, Name: "sql1", Roots: func() *x509.CertPool { return mesh.pool }}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := p.Probe(ctx, addr, Options{Rounds: 2, MTU: true, BurstBytes: 1 << 20, Expect: "mi1"})
	if res.Code != attempt.OK || !strings.Contains(res.Detail, "responder mi1 proved the mesh key and its certificate") {
		t.Fatalf("got %s %q", res.Code, res.Detail)
	}
}

// BenchmarkProbeCertificate measures one echo attempt (connect, hello, 10
// round trips) with the certificate proof (a TLS mesh), to compare with
// BenchmarkProbe (the key-bound name only).
func BenchmarkProbeCertificate(b *testing.B) {
	mesh := newTestCA(b)
	addr := startResponderWith(b, responder.Config{Key: key, Name: "mi1", Certificate: mesh.cert(b, "mi1")})
	p := Prober{Key: key, Name: "sql1", Roots: func() *x509.CertPool { return mesh.pool }}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if res := p.Probe(ctx, addr, Options{Rounds: 10, Expect: "mi1"}); res.Code != attempt.OK {
			b.Fatalf("attempt: %s %s", res.Code, res.Detail)
		}
		cancel()
	}
}
