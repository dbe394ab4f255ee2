package responder

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// identity is the certificate one hello proves the probe's name with: the
// chain to send and the key to sign with. A nil *identity: no certificate.
type identity struct {
	chain  [][]byte
	signer crypto.Signer
	size   int // the proof's payload size, announced in the hello-reply
}

func (id *identity) proofSize() int {
	if id == nil {
		return 0
	}
	return id.size
}

// identityCache keeps the identity built from the certificate last returned
// by Config.Certificate, so a hello costs no certificate parsing until the
// certificate changes (a reload of its files).
type identityCache struct {
	mu     sync.Mutex
	cert   *tls.Certificate
	id     *identity
	warned *tls.Certificate // the unusable certificate last logged
}

// identity returns the proof material of the current certificate (nil when
// the responder has none, or it cannot serve as a proof: then it says why in
// the log, once per certificate).
func (r *Responder) identity() *identity {
	if r.cfg.Certificate == nil {
		return nil
	}
	cert := r.cfg.Certificate()
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	c := &r.ids
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert == c.cert {
		return c.id
	}
	id, err := newIdentity(cert)
	if err != nil && c.warned != cert {
		c.warned = cert
		r.logger.Warn("the responder cannot prove this probe's name with its certificate; probes with the mesh CA will read its echo paths as mismatch", "error", err)
	}
	c.cert, c.id = cert, id
	return id
}

func newIdentity(cert *tls.Certificate) (*identity, error) {
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the certificate's private key (%T) cannot sign", cert.PrivateKey)
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse the certificate: %w", err)
		}
	}
	sig, err := wire.SignatureSize(leaf.PublicKey)
	if err != nil {
		return nil, err
	}
	// The leaf and as many intermediates as the proof's limits allow: a
	// prober that needs a dropped one has it in its CA file, or fails
	// saying the chain does not verify.
	chain := cert.Certificate[:min(len(cert.Certificate), wire.MaxCerts)]
	for len(chain) > 1 && wire.ProofSize(chain, sig) == 0 {
		chain = chain[:len(chain)-1]
	}
	size := wire.ProofSize(chain, sig)
	if size == 0 {
		return nil, fmt.Errorf("the certificate (%d bytes, %d-byte signatures) is larger than the echo proof allows (%d bytes of certificates, %d-byte signatures)",
			len(chain[0]), sig, wire.MaxCertChain, wire.MaxSignature)
	}
	return &identity{chain: chain, signer: signer, size: size}, nil
}

// proof answers a proof-request: the certificate chain and a signature over
// the connection's hello. It is sent once per connection, and only when the
// request is at least as long as the proof (so the rule of never sending
// more than was received holds). ok false: the connection ends for reason.
func (c *conn) proof(req []byte) (reason closeReason, ok bool) {
	switch {
	case c.id == nil:
		return c.refuse(wire.CodeNoCert, "this responder has no certificate from the mesh CA to prove its probe name with (its probe runs without --tls-cert)", 0), false
	case c.proved:
		return c.refuse(wire.CodeLimit, "the certificate proof is sent once per connection", 1), false
	case len(req) < c.id.size:
		return c.refuse(wire.CodeProtocol, fmt.Sprintf("proof request of %d bytes; the proof is %d", len(req), c.id.size), 1), false
	}
	c.proved = true
	sig, err := wire.Sign(c.id.signer, wire.SignedHello(c.clientHello, c.serverHello))
	if err != nil {
		return c.refuse(wire.CodeNoCert, "signing with the certificate's key failed: "+err.Error(), 0), false
	}
	p, err := wire.AppendProof(make([]byte, 0, c.id.size), wire.CertProof{Signature: sig, Chain: c.id.chain})
	if err != nil {
		return c.refuse(wire.CodeNoCert, err.Error(), 0), false
	}
	if err := c.send(wire.Proof, p); err != nil {
		return closeReason{what: "write proof", err: err}, false
	}
	return closeReason{}, true
}
