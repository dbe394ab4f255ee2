package echo

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// issue signs a certificate for pub with parent's key (self-signed when
// parent is nil); a CA when name is empty, else probe name's certificate with
// sans extra DNS names (to make it large).
func issue(t *testing.T, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer, name string, sans int) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "test " + name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if name == "" {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.URIs = append(tmpl.URIs, tlsconf.ProbeURI(name))
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		for i := range sans {
			tmpl.DNSNames = append(tmpl.DNSNames, fmt.Sprintf("alias-%03d.probes.example.internal", i))
		}
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIdentityKeyTypes: the proof works with an RSA leaf (RSA-PSS) behind an
// intermediate, sent by the responder and not in the prober's CA file, in a
// proof larger than the echo replies (about 3.5 KB), and with an Ed25519 leaf.
func TestIdentityKeyTypes(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := issue(t, rootKey.Public(), nil, rootKey, "", 0)
	interKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	inter := issue(t, interKey.Public(), root, rootKey, "", 0)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	tests := []struct {
		name string
		cert tls.Certificate
	}{
		{"rsa leaf, intermediate, 3 KB of certificates", func() tls.Certificate {
			leaf := issue(t, rsaKey.Public(), inter, interKey, "mi1", 50)
			if n := wire.ProofSize([][]byte{leaf.Raw, inter.Raw}, 256); n < 3000 {
				t.Fatalf("proof of %d bytes; the test wants one larger than 3000", n)
			}
			return tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.Raw}, PrivateKey: rsaKey, Leaf: leaf}
		}()},
		{"ed25519 leaf", func() tls.Certificate {
			leaf := issue(t, edKey.Public(), root, rootKey, "mi1", 0)
			return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: edKey, Leaf: leaf}
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startResponderWith(t, responder.Config{Key: key, Name: "mi1", Certificate: func() *tls.Certificate { return &tt.cert }})
			p := Prober{Key: key, Name: "sql1", Roots: func() *x509.CertPool { return pool }}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res := p.Probe(ctx, addr, Options{Rounds: 2, Expect: "mi1"})
			if res.Code != attempt.OK || !strings.Contains(res.Detail, "proved the mesh key and its certificate") {
				t.Fatalf("got %s %q; want ok proven by the certificate", res.Code, res.Detail)
			}
		})
	}
}
