package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
)

// tlsConfigNoCert builds a client TLS config that trusts ca and offers no
// certificate.
type tlsConfigNoCert struct{ ca string }

func (c *tlsConfigNoCert) config(t *testing.T) *tls.Config {
	t.Helper()
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool(t, c.ca)}
}

// foreignConfig trusts ca but offers a certificate from another CA.
func foreignConfig(t *testing.T, f tlsconf.Files, ca string) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool(t, ca), Certificates: []tls.Certificate{pair}}
}

func pool(t *testing.T, ca string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", ca)
	}
	return p
}
