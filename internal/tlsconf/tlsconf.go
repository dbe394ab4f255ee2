// Package tlsconf loads the mutual-TLS material of linkmesh (a private CA, and a
// certificate and key per coordinator or probe) from files, re-reads it when the
// files change, and builds gRPC transport credentials from it: TLS 1.3 only, with
// client certificates required and verified against the CA.
//
// Reload needs no watcher: every handshake asks the Source for its material, and
// the Source looks at the files' modification times at most once a second. A
// file that changes into something unusable (half-written, wrong key) is logged
// and the previous material stays in use until the files are fixed.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// Files names the PEM files of one party of the mesh.
type Files struct {
	// CA is the private CA's certificate (ca.crt): peers must present a
	// certificate it signed.
	CA string
	// Cert is this party's certificate (with intermediates, if any, after it).
	Cert string
	// Key is the private key of Cert.
	Key string
}

// Empty reports whether no file is named.
func (f Files) Empty() bool { return f.CA == "" && f.Cert == "" && f.Key == "" }

// Check reports which of the three files is missing; flag names the flag (or
// config field) prefix used in the message, e.g. "--tls-" or "tls.".
func (f Files) Check(prefix string) error {
	var missing []string
	for _, x := range []struct{ name, v string }{{"ca", f.CA}, {"cert", f.Cert}, {"key", f.Key}} {
		if x.v == "" {
			missing = append(missing, prefix+x.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("give all of %sca, %scert and %skey (missing: %v); create them with `linkmesh certs`", prefix, prefix, prefix, missing)
	}
	return nil
}

// Material is one loaded set of files.
type Material struct {
	// Pool holds the CA certificates peers are verified against.
	Pool *x509.CertPool
	// Cert is this party's certificate and key.
	Cert tls.Certificate
	// Leaf is Cert's parsed leaf certificate.
	Leaf *x509.Certificate
}

// Load reads and checks the three files. Errors name the file and what is wrong.
func Load(f Files) (*Material, error) {
	if err := f.Check("tls "); err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("tls CA: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("tls CA %s: holds a %q PEM block; give the CA certificate (ca.crt), not a key", f.CA, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls CA %s: %w", f.CA, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("tls CA %s: %q is not a CA certificate; give the CA's ca.crt (from `linkmesh certs ca`)", f.CA, c.Subject.CommonName)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tls CA %s: no PEM certificate in the file", f.CA)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls cert %s / key %s: %w", f.Cert, f.Key, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls cert %s: %w", f.Cert, err)
		}
	}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("tls cert %s: expired on %s; issue a new one with `linkmesh certs`", f.Cert, leaf.NotAfter.Format(time.DateOnly))
	}
	inter := x509.NewCertPool()
	for _, der := range pair.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: now}
	if _, err := leaf.Verify(opts); err != nil {
		return nil, fmt.Errorf("tls cert %s: not signed by the CA in %s: %w", f.Cert, f.CA, err)
	}
	return &Material{Pool: pool, Cert: pair, Leaf: leaf}, nil
}
