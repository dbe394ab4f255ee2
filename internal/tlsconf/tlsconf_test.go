package tlsconf_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"google.golang.org/grpc/credentials"
)

const year = 365 * 24 * time.Hour

// mesh writes a CA, a coordinator certificate for 127.0.0.1 and probe
// certificates into dir and returns the files of each.
func mesh(t *testing.T, dir string, probes ...string) (server tlsconf.Files, probe map[string]tlsconf.Files) {
	t.Helper()
	ca, caPair, err := pki.NewCA("test CA", year)
	if err != nil {
		t.Fatal(err)
	}
	must(t, caPair.Write(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), true))
	files := func(name string) tlsconf.Files {
		return tlsconf.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	}
	p, err := ca.IssueServer("coord", []string{"127.0.0.1", "localhost"}, year)
	must(t, err)
	server = files("coord")
	must(t, p.Write(server.Cert, server.Key, true))
	probe = map[string]tlsconf.Files{}
	for _, n := range probes {
		p, err := ca.IssueProbe(n, year)
		must(t, err)
		probe[n] = files(n)
		must(t, p.Write(probe[n].Cert, probe[n].Key, true))
	}
	return server, probe
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	server, probes := mesh(t, dir, "sql01")
	other := t.TempDir()
	otherServer, _ := mesh(t, other)
	tests := []struct {
		name  string
		files tlsconf.Files
		want  []string
	}{
		{"missing key", tlsconf.Files{CA: server.CA, Cert: server.Cert}, []string{"tls key", "linkmesh certs"}},
		{"key as CA", tlsconf.Files{CA: server.Key, Cert: server.Cert, Key: server.Key}, []string{server.Key, `"PRIVATE KEY"`, "ca.crt"}},
		{"leaf as CA", tlsconf.Files{CA: server.Cert, Cert: server.Cert, Key: server.Key}, []string{"is not a CA certificate"}},
		{"no such file", tlsconf.Files{CA: filepath.Join(dir, "nope.crt"), Cert: server.Cert, Key: server.Key}, []string{"nope.crt"}},
		{"key of another cert", tlsconf.Files{CA: server.CA, Cert: server.Cert, Key: probes["sql01"].Key}, []string{server.Cert, "private key does not match"}},
		{"cert of another CA", tlsconf.Files{CA: server.CA, Cert: otherServer.Cert, Key: otherServer.Key}, []string{"not signed by the CA in " + server.CA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tlsconf.Load(tt.files)
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := tlsconf.Load(probes["sql01"]); err != nil {
		t.Errorf("a good probe pair: %v", err)
	}
}

func TestProbeName(t *testing.T) {
	dir := t.TempDir()
	server, probes := mesh(t, dir, "sql01")
	leaf := func(f tlsconf.Files) *x509.Certificate {
		m, err := tlsconf.Load(f)
		must(t, err)
		return m.Leaf
	}
	if n, err := tlsconf.ProbeName(leaf(probes["sql01"])); err != nil || n != "sql01" {
		t.Errorf("probe cert: got %q, %v; want sql01", n, err)
	}
	if _, err := tlsconf.ProbeName(leaf(server)); err == nil {
		t.Error("a coordinator certificate was taken for a probe's")
	}
	cnOnly := &x509.Certificate{}
	cnOnly.Subject.CommonName = "legacy01"
	if n, err := tlsconf.ProbeName(cnOnly); err != nil || n != "legacy01" {
		t.Errorf("CN fallback: got %q, %v", n, err)
	}
	if _, err := tlsconf.ProbeName(&x509.Certificate{}); err == nil {
		t.Error("a certificate naming nothing was accepted")
	}
}

// handshake runs one TLS handshake over a real loopback connection with the
// given client files and returns the server side's view.
func handshake(t *testing.T, srv *tlsconf.Source, client tlsconf.Files) (*credentials.TLSInfo, error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer lis.Close()
	type out struct {
		info *credentials.TLSInfo
		err  error
	}
	done := make(chan out, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			done <- out{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var o out
		creds := tlsconf.ServerCredentials(srv, func(_ net.Conn, info *credentials.TLSInfo, err error) error {
			o.info, o.err = info, err
			return nil
		})
		conn, _, _ := creds.ServerHandshake(c)
		if conn != nil {
			conn.Close()
		}
		done <- o
	}()
	raw, err := net.Dial("tcp", lis.Addr().String())
	must(t, err)
	defer raw.Close()
	src, err := tlsconf.NewSource(client, quiet())
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, cerr := tlsconf.ClientCredentials(src, "").ClientHandshake(ctx, "127.0.0.1:7022", raw)
	if cerr == nil {
		// TLS 1.3: the server checks the client certificate after the client
		// finished; read to learn the server's verdict.
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		conn.Read(make([]byte, 1))
		conn.Close()
	}
	o := <-done
	return o.info, o.err
}

func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	server, probes := mesh(t, dir, "sql01")
	_, foreign := mesh(t, t.TempDir(), "sql01")
	srv, err := tlsconf.NewSource(server, quiet())
	must(t, err)
	info, err := handshake(t, srv, probes["sql01"])
	if err != nil || info == nil {
		t.Fatalf("good client refused: %v", err)
	}
	if info.State.Version != 0x0304 {
		t.Errorf("TLS version %x, want 1.3", info.State.Version)
	}
	if n, err := tlsconf.ProbeName(info.State.VerifiedChains[0][0]); n != "sql01" || err != nil {
		t.Errorf("peer probe: got %q, %v", n, err)
	}
	// A probe whose certificate comes from another CA trusts our CA (so it gets
	// as far as sending its certificate) but the server refuses it.
	mixed := tlsconf.Files{CA: server.CA, Cert: foreign["sql01"].Cert, Key: foreign["sql01"].Key}
	if _, err := tlsconf.NewSource(mixed, quiet()); err == nil {
		t.Fatal("NewSource accepted a certificate its own CA did not sign")
	}
}

// TestReload: a new certificate written over the old one is served from the next
// handshake a second later; a broken file keeps the old material. The second
// is the bubble's (testing/synctest): the test takes no real time.
func TestReload(t *testing.T) {
	synctest.Test(t, testReload)
}

func testReload(t *testing.T) {
	dir := t.TempDir()
	server, _ := mesh(t, dir)
	src, err := tlsconf.NewSource(server, quiet())
	must(t, err)
	first := src.Current().Leaf.SerialNumber
	ca, err := pki.LoadCA(server.CA, filepath.Join(dir, "ca.key"))
	must(t, err)
	p, err := ca.IssueServer("coord", []string{"127.0.0.1"}, year)
	must(t, err)
	must(t, p.Write(server.Cert, server.Key, true))
	future := time.Now().Add(2 * time.Second)
	must(t, os.Chtimes(server.Cert, future, future))
	if src.Current().Leaf.SerialNumber.Cmp(first) != 0 {
		t.Fatal("the new certificate was picked up at once; the Source looks at most once a second")
	}
	time.Sleep(1100 * time.Millisecond) // the Source looks at most once a second
	second := src.Current().Leaf.SerialNumber
	if second.Cmp(first) == 0 {
		t.Fatal("the new certificate was not picked up a second later")
	}
	must(t, os.WriteFile(server.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), 0o644))
	later := time.Now().Add(4 * time.Second)
	must(t, os.Chtimes(server.Cert, later, later))
	time.Sleep(1100 * time.Millisecond) // the Source looks at most once a second
	if got := src.Current().Leaf.SerialNumber; got.Cmp(second) != 0 {
		t.Errorf("a broken file replaced the material: serial %v, want %v", got, second)
	}
}

// TestCertIdentity: a probe certificate carries its name and site, an
// operator's its name and role; an operator's names no probe; a probe
// certificate from before sites has none.
func TestCertIdentity(t *testing.T) {
	const year = 365 * 24 * time.Hour
	ca, _, err := pki.NewCA("test CA", year)
	must(t, err)
	leaf := func(p pki.Pair, err error) *x509.Certificate {
		t.Helper()
		must(t, err)
		b, _ := pem.Decode(p.CertPEM)
		c, err := x509.ParseCertificate(b.Bytes)
		must(t, err)
		return c
	}
	for _, tt := range []struct {
		name string
		cert *x509.Certificate
		want tlsconf.Identity
	}{
		{"probe with site", leaf(ca.IssueProbeSite("sql01", "sql", year)), tlsconf.Identity{Role: tlsconf.RoleProbe, Name: "sql01", Site: "sql"}},
		{"probe without site", leaf(ca.IssueProbe("sql01", year)), tlsconf.Identity{Role: tlsconf.RoleProbe, Name: "sql01"}},
		{"operator", leaf(ca.IssueOperator("alice", year)), tlsconf.Identity{Role: tlsconf.RoleOperator, Name: "alice"}},
	} {
		if got, err := tlsconf.CertIdentity(tt.cert); err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	op := leaf(ca.IssueOperator("alice", year))
	if n, err := tlsconf.ProbeName(op); err == nil {
		t.Errorf("an operator's certificate named probe %q", n)
	}
	if got := op.URIs[0].String(); got != "linkmesh:operator:alice" {
		t.Errorf("operator URI %s", got)
	}
	if got := leaf(ca.IssueProbeSite("sql01", "sql", year)).URIs[0].String(); got != "linkmesh:probe:sql01?site=sql" {
		t.Errorf("probe URI %s", got)
	}
}
