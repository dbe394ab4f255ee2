// Package pki creates linkmesh's private certificate authority and issues the
// certificates mTLS needs: a server certificate per coordinator (with the DNS
// names and IP addresses probes dial it by), a client certificate per probe
// (naming the probe and its site, see tlsconf.CertIdentity) and a client
// certificate per operator (who may run check rounds). `linkmesh certs` is its user, so
// nobody has to be sent to openssl.
//
// Keys are ECDSA P-256: small, fast, and accepted by Go and Windows alike.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/linkmesh/linkmesh/internal/keyfile"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
)

// Pair is a PEM certificate and its PEM private key.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// CA signs certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA creates a self-signed CA valid for validity.
func NewCA(name string, validity time.Duration) (*CA, Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, Pair{}, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl, err := template(name, validity)
	if err != nil {
		return nil, Pair{}, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, Pair{}, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, Pair{}, fmt.Errorf("parse CA certificate: %w", err)
	}
	p, err := encode(der, key)
	return &CA{cert: cert, key: key}, p, err
}

// LoadCA reads a CA made by NewCA (or any CA with an ECDSA, RSA-less key in
// PKCS#8 or SEC 1 form).
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w (create one with `linkmesh certs ca`)", err)
	}
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("CA certificate %s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certPath, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("CA certificate %s: %q is not a CA", certPath, cert.Subject.CommonName)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("CA key %s: no PEM block", keyPath)
	}
	var key *ecdsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		key, _ = k.(*ecdsa.PrivateKey)
	} else if k, err := x509.ParseECPrivateKey(kb.Bytes); err == nil {
		key = k
	}
	if key == nil {
		return nil, fmt.Errorf("CA key %s: not an ECDSA private key", keyPath)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("CA key %s does not belong to the certificate %s", keyPath, certPath)
	}
	return &CA{cert: cert, key: key}, nil
}

// IssueServer issues a coordinator's server certificate, valid for the given
// host names and IP addresses (what probes put in --coordinator).
func (ca *CA) IssueServer(name string, hosts []string, validity time.Duration) (Pair, error) {
	if len(hosts) == 0 {
		return Pair{}, errors.New("a server certificate needs at least one host name or IP address (--san) that probes dial")
	}
	tmpl, err := template(name, validity)
	if err != nil {
		return Pair{}, err
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	tmpl.URIs = []*url.URL{tlsconf.CoordinatorURI(name)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return ca.sign(tmpl)
}

// IssueProbe issues a probe's client certificate without a site (as before
// sites were recorded): the coordinator accepts it only from a probe that calls
// itself name, of any site, and logs a warning. New certificates should come
// from IssueProbeSite.
func (ca *CA) IssueProbe(name string, validity time.Duration) (Pair, error) {
	return ca.IssueProbeSite(name, "", validity)
}

// IssueProbeSite issues a probe's client certificate: the coordinator accepts
// it only from a probe that calls itself name and registers with site.
func (ca *CA) IssueProbeSite(name, site string, validity time.Duration) (Pair, error) {
	tmpl, err := template(name, validity)
	if err != nil {
		return Pair{}, err
	}
	tmpl.URIs = []*url.URL{tlsconf.ProbeSiteURI(name, site)}
	if site != "" {
		tmpl.Subject.OrganizationalUnit = []string{"site " + site}
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl)
}

// IssueOperator issues an operator's client certificate: it may run check
// rounds (RunCheck) and nothing a probe does (no Register, no reports).
func (ca *CA) IssueOperator(name string, validity time.Duration) (Pair, error) {
	tmpl, err := template(name, validity)
	if err != nil {
		return Pair{}, err
	}
	tmpl.URIs = []*url.URL{tlsconf.OperatorURI(name)}
	tmpl.Subject.OrganizationalUnit = []string{"operator"}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl)
}

func (ca *CA) sign(tmpl *x509.Certificate) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("generate key: %w", err)
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("sign certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	return encode(der, key)
}

func template(name string, validity time.Duration) (*x509.Certificate, error) {
	if name == "" {
		return nil, errors.New("a certificate needs a name (--name)")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("validity %v: must be positive", validity)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"linkmesh"}},
		NotBefore:    now.Add(-5 * time.Minute), // tolerate small clock skew
		NotAfter:     now.Add(validity),
	}, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (Pair, error) {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("encode key: %w", err)
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

// Write stores the pair as certPath (mode 0644) and keyPath, readable only by
// its owner (see WriteFor). It refuses to replace an existing file unless force
// is set.
func (p Pair) Write(certPath, keyPath string, force bool) error {
	return p.WriteFor(certPath, keyPath, force, keyfile.Options{})
}

// WriteFor is Write with the key file written by keyfile.Write: atomically,
// mode 0600 on Unix; on Windows with an ACL for SYSTEM, Administrators, the
// current user and key.Account only.
func (p Pair) WriteFor(certPath, keyPath string, force bool, key keyfile.Options) error {
	if !force {
		for _, f := range []string{certPath, keyPath} {
			if _, err := os.Stat(f); err == nil {
				return fmt.Errorf("%s exists; refusing to replace it (pass --force to overwrite)", f)
			}
		}
	}
	if err := keyfile.Write(keyPath, p.KeyPEM, key); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := os.WriteFile(certPath, p.CertPEM, 0o644); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}
