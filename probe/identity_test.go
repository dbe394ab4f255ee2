package probe

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/credentials/insecure"
)

// writeProbeFiles issues a certificate for probe name from ca into dir and
// returns the files (ca.crt of caPEM).
func writeProbeFiles(t *testing.T, dir string, ca *pki.CA, caPEM []byte, name string) tlsconf.Files {
	t.Helper()
	f := tlsconf.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	pair, err := ca.IssueProbe(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.CA, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pair.Write(f.Cert, f.Key, true); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEchoIdentityWithTLS: Config.TLS wires the certificate into the
// responder and the CA into the echo kind. An echo attempt from sql1 to mi1's
// responder proves mi1 by its certificate; the same responder planned as mi2
// is mismatch; and after mi1's files change to another CA's (a reload), the
// responder proves with the new certificate, which sql1's CA rejects.
func TestEchoIdentityWithTLS(t *testing.T) {
	ca, caPair, err := pki.NewCA("mesh CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	key := make([]byte, 32)
	newAgent := func(name string, f tlsconf.Files) *Agent {
		src, err := tlsconf.NewSource(f, discard)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(Config{Name: name, Site: "x", Coordinators: []string{"127.0.0.1:1"}, Creds: insecure.NewCredentials(),
			Responder: "127.0.0.1:0", BufferSize: 10, MeshKey: key, TLS: src}, discard)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	miDir, sqlDir := t.TempDir(), t.TempDir()
	mi := newAgent("mi1", writeProbeFiles(t, miDir, ca, caPair.CertPEM, "mi1"))
	sql := newAgent("sql1", writeProbeFiles(t, sqlDir, ca, caPair.CertPEM, "sql1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mi.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	port := mi.lis.Addr().(*net.TCPAddr).Port
	probe := func(name string) attempt.Result {
		tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
		defer tcancel()
		return sql.probers[linkmeshv1.Kind_KIND_ECHO].Probe(tctx, &linkmeshv1.Target{
			Kind: linkmeshv1.Kind_KIND_ECHO, Host: "127.0.0.1", Port: uint32(port), Name: name,
			Echo: &linkmeshv1.EchoOptions{Rounds: 2},
		}, 1)
	}
	if res := probe("mi1"); res.Code != attempt.OK || !strings.Contains(res.Detail, "responder mi1 proved the mesh key and its certificate") {
		t.Fatalf("sql1 → mi1: %s %q; want ok proven by the certificate", res.Code, res.Detail)
	}
	if res := probe("mi2"); res.Code != attempt.Mismatch || !strings.Contains(res.Detail, "answered by probe mi1, expected mi2") {
		t.Fatalf("planned as mi2: %s %q; want mismatch", res.Code, res.Detail)
	}
	// mi1's files change to a certificate of another CA (the Source looks at
	// them at most once a second, then reloads).
	other, otherPair, err := pki.NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeProbeFiles(t, miDir, other, otherPair.CertPEM, "mi1")
	var res attempt.Result
	if !waitfor.Poll(10*time.Second, func() bool {
		res = probe("mi1")
		return res.Code == attempt.Mismatch && strings.Contains(res.Detail, "not one of this mesh's CA")
	}) {
		t.Fatalf("after mi1's reload: %s %q; want mismatch, its certificate is another CA's", res.Code, res.Detail)
	}
}
