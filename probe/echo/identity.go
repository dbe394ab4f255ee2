package echo

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"time"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// The session's buffer holds the largest reply, a certificate proof (a
// negative constant here fails the build).
const _ = uint(len(session{}.buf) - wire.MaxProof)

// expectation is what the hello must prove about the far end: which probe it
// is, and how.
type expectation struct {
	self    string         // this probe's name ("" when it has none)
	expect  string         // the probe the plan names ("": any probe but this one)
	address string         // where the plan said it is, for the detail
	roots   *x509.CertPool // the mesh CA: the name must be proven with a certificate it signed; nil: the key-bound name is enough
}

func mismatch(format string, args ...any) error {
	return &stepError{code: attempt.Mismatch, detail: fmt.Sprintf(format, args...)}
}

// checkName compares the probe name a responder proved (with the mesh key,
// or with its certificate: how says by) with the plan.
func (e expectation) checkName(name, by string) error {
	switch {
	case name == "" && e.expect != "":
		return mismatch("a linkmesh responder of this mesh answered at %s, but it does not say which probe it is (an older linkmesh?); expected probe %s: run the same linkmesh release on both probes", e.address, e.expect)
	case name != "" && name == e.self:
		return mismatch("answered by probe %s%s — this probe's own responder — expected %s: the responder address advertised for %s (%s) points back here; check %s's --advertise and --responder, and NAT or port forwarding in front of it",
			name, by, orAny(e.expect), orAny(e.expect), e.address, orAny(e.expect))
	case e.expect != "" && name != e.expect:
		if _, err := netip.ParseAddr(e.expect); err == nil {
			// A static target named by its address (to.name defaults to it).
			return mismatch("answered by probe %s%s, expected %s: a static echo target names the probe that must answer in the rule's to.name; set it to %s if that probe is meant", name, by, e.expect, name)
		}
		return mismatch("answered by probe %s%s, expected %s: the responder address advertised for %s (%s) reaches %s's responder; check %s's --advertise and --responder, and NAT or port forwarding in front of it",
			name, by, e.expect, e.expect, e.address, name, e.expect)
	}
	return nil
}

func orAny(name string) string {
	if name == "" {
		return "the target"
	}
	return name
}

// verifyProof checks a proof frame: the certificate chains to the mesh CA,
// its key signed this connection's hello (client and server payloads), and it
// names the probe the hello claimed (claimed) and the plan expects. It
// returns the certificate's probe name.
func (e expectation) verifyProof(p, client, server []byte, claimed string) (string, error) {
	cp, err := wire.ParseProof(p)
	if err != nil {
		return "", mismatch("probe %s sent a malformed certificate proof: %v", claimed, err)
	}
	certs := make([]*x509.Certificate, 0, len(cp.Chain))
	for _, der := range cp.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", mismatch("probe %s sent a certificate that does not parse: %v", claimed, err)
		}
		certs = append(certs, c)
	}
	leaf, inter := certs[0], x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: e.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: time.Now()}
	if _, err := leaf.Verify(opts); err != nil {
		return "", mismatch("the responder at %s says it is probe %s and holds the mesh key, but its certificate (%q) is not one of this mesh's CA (%v): give it a certificate from this mesh's CA (`linkmesh certs probe --name %s`)",
			e.address, claimed, leaf.Subject.CommonName, err, claimed)
	}
	if err := wire.VerifySignature(leaf, wire.SignedHello(client, server), cp.Signature); err != nil {
		return "", mismatch("the responder at %s sent probe %s's certificate but its signature over the hello does not verify (%v): it does not hold that certificate's key", e.address, claimed, err)
	}
	name, err := tlsconf.ProbeName(leaf)
	if err != nil {
		return "", mismatch("the responder at %s proved a certificate of this mesh's CA that names no probe: %v", e.address, err)
	}
	if name != claimed {
		return name, mismatch("answered by probe %s (by its certificate), expected %s: it claimed to be %s in the hello — a holder of the mesh key posing as another probe, or a certificate issued for the wrong --name",
			name, orAny(e.expect), claimed)
	}
	return name, nil
}
