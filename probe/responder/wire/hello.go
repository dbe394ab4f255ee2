package wire

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// The hello of version 2. Both hello frames have the same fixed size, so the
// responder's answer is never larger than the question:
//
//	hello        nonce(32) | name length(1) | name(63, zero padded) | reserved(64)
//	hello-reply  nonce(32) | name length(1) | name(63, zero padded) | proof size(2) | reserved(30) | MAC(32)
//
// The responder's MAC covers the client's whole hello and every byte of its
// own reply before the MAC, so a path attacker without the mesh key can change
// neither name, nonce nor proof size. The client's proof covers both frames
// whole. The certificate proof signs both frames whole (SignedHello).
const (
	// HelloSize is the payload size of a hello and of a hello-reply.
	HelloSize = 160
	// MaxName is the longest probe name (the names a probe's --name accepts).
	MaxName = 63
	// MaxCertChain bounds the DER bytes of the certificates in a proof.
	MaxCertChain = 4096
	// MaxCerts bounds the certificates in a proof (the leaf and intermediates).
	MaxCerts = 4
	// MaxSignature bounds a proof's signature (an RSA-4096 signature).
	MaxSignature = 512
	// MaxProof is the largest proof payload: signature length and bytes,
	// certificate count, each certificate's length and bytes.
	MaxProof = 2 + MaxSignature + 1 + MaxCerts*2 + MaxCertChain
	// minProof: a one-byte signature and one one-byte certificate.
	minProof = 2 + 1 + 1 + 2 + 1

	nameOff      = NonceSize
	reservedOff  = nameOff + 1 + MaxName
	proofSizeOff = reservedOff
	macOff       = HelloSize - MACSize
)

// Domain-separation labels: the responder's proof can never be replayed as a
// client's, or the other way round, and neither as a signature.
const (
	serverLabel = "linkmesh responder v2 server proof"
	clientLabel = "linkmesh responder v2 client proof"
	signLabel   = "linkmesh responder v2 certificate proof"
)

// ValidName reports whether s is a probe name: 1 to 63 letters, digits, '.',
// '_' and '-', starting with a letter or digit (as --name requires).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func putName(p []byte, name string) {
	p[nameOff] = byte(len(name))
	copy(p[nameOff+1:reservedOff], name)
}

func getName(p []byte) (string, error) {
	n := int(p[nameOff])
	if n == 0 {
		return "", nil
	}
	name := string(p[nameOff+1 : nameOff+1+min(n, MaxName)])
	if n > MaxName || !ValidName(name) {
		return "", fmt.Errorf("the hello names no valid probe (length %d, %q)", n, name)
	}
	return name, nil
}

// ClientHello is the content of a hello frame.
type ClientHello struct {
	Nonce [NonceSize]byte
	// Name is the client probe's name ("" when it has none): for the
	// responder's log, and bound into every proof.
	Name string
}

// NewClientHello returns a hello from name with a fresh random nonce.
func NewClientHello(name string) ClientHello {
	h := ClientHello{Name: name}
	_, _ = rand.Read(h.Nonce[:])
	return h
}

// Marshal encodes h as a hello payload (HelloSize bytes). A name that is not
// ValidName is left out.
func (h ClientHello) Marshal() []byte {
	p := make([]byte, HelloSize)
	copy(p, h.Nonce[:])
	if ValidName(h.Name) {
		putName(p, h.Name)
	}
	return p
}

// ParseClientHello decodes a hello payload.
func ParseClientHello(p []byte) (ClientHello, error) {
	var h ClientHello
	if len(p) != HelloSize {
		return h, fmt.Errorf("hello of %d bytes, want %d", len(p), HelloSize)
	}
	copy(h.Nonce[:], p)
	var err error
	h.Name, err = getName(p)
	return h, err
}

// ServerHello is the content of a hello-reply frame.
type ServerHello struct {
	Nonce [NonceSize]byte
	// Name is the responder's probe name ("" when it has none).
	Name string
	// ProofSize is the payload size of the certificate proof the responder
	// sends for a proof-request at least this long; 0: it has no certificate.
	ProofSize int
}

// Marshal encodes h as a hello-reply payload answering the hello payload
// client, with the MAC of key over both.
func (h ServerHello) Marshal(key, client []byte) []byte {
	p := make([]byte, HelloSize)
	copy(p, h.Nonce[:])
	if ValidName(h.Name) {
		putName(p, h.Name)
	}
	if h.ProofSize > 0 && h.ProofSize <= MaxProof {
		binary.BigEndian.PutUint16(p[proofSizeOff:], uint16(h.ProofSize))
	}
	copy(p[macOff:], serverMAC(key, client, p[:macOff]))
	return p
}

// ParseServerHello decodes a hello-reply payload (it does not check the MAC:
// VerifyServerHello does).
func ParseServerHello(p []byte) (ServerHello, error) {
	var h ServerHello
	if len(p) != HelloSize {
		return h, fmt.Errorf("hello-reply of %d bytes, want %d", len(p), HelloSize)
	}
	copy(h.Nonce[:], p)
	var err error
	if h.Name, err = getName(p); err != nil {
		return h, err
	}
	h.ProofSize = int(binary.BigEndian.Uint16(p[proofSizeOff:]))
	if h.ProofSize != 0 && (h.ProofSize < minProof || h.ProofSize > MaxProof) {
		return h, fmt.Errorf("hello-reply announces a %d-byte certificate proof; allowed %d to %d", h.ProofSize, minProof, MaxProof)
	}
	return h, nil
}

// VerifyServerHello reports whether the hello-reply server carries key's MAC
// over the hello client and itself.
func VerifyServerHello(key, client, server []byte) bool {
	if len(server) != HelloSize {
		return false
	}
	return hmac.Equal(server[macOff:], serverMAC(key, client, server[:macOff]))
}

// ClientProof is the auth payload: the client's proof that it holds key,
// over both hello payloads whole.
func ClientProof(key, client, server []byte) []byte {
	return mac(key, clientLabel, client, server)
}

func serverMAC(key, client, serverBody []byte) []byte {
	return mac(key, serverLabel, client, serverBody)
}

func mac(key []byte, label string, a, b []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(a)
	m.Write(b)
	return m.Sum(nil)
}

// SignedHello is what the certificate proof signs: a label and both hello
// payloads whole (nonces, names, proof size and the mesh-key MAC).
func SignedHello(client, server []byte) []byte {
	b := make([]byte, 0, len(signLabel)+len(client)+len(server))
	b = append(b, signLabel...)
	b = append(b, client...)
	return append(b, server...)
}

// ErrKeyType: a certificate key type the proof does not use.
var ErrKeyType = errors.New("certificate key type not supported for the echo proof (use ECDSA, RSA or Ed25519)")

// SignatureSize is the largest signature a key of this public key's type and
// size makes.
func SignatureSize(pub crypto.PublicKey) (int, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// DER: a sequence of two integers, each at most one byte longer
		// than the curve's size.
		return 2*((k.Curve.Params().BitSize+7)/8) + 9, nil
	case *rsa.PublicKey:
		return (k.N.BitLen() + 7) / 8, nil
	case ed25519.PublicKey:
		return ed25519.SignatureSize, nil
	}
	return 0, ErrKeyType
}

// Sign signs msg with the certificate's private key: ECDSA and RSA-PSS over
// its SHA-256, Ed25519 over msg itself (as VerifySignature checks them).
func Sign(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		return key.Sign(rand.Reader, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256})
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	return nil, ErrKeyType
}

// VerifySignature checks sig over msg with cert's public key.
func VerifySignature(cert *x509.Certificate, msg, sig []byte) error {
	var alg x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSAPSS
	case ed25519.PublicKey:
		alg = x509.PureEd25519
	default:
		return ErrKeyType
	}
	return cert.CheckSignature(alg, msg, sig)
}

// CertProof is the content of a proof frame.
type CertProof struct {
	// Signature is over SignedHello of the connection's hello.
	Signature []byte
	// Chain is the responder's certificate (DER) and any intermediates.
	Chain [][]byte
}

// ProofSize is the payload size of a proof with chain and a signature of at
// most sigSize bytes, or 0 when that exceeds the protocol's limits.
func ProofSize(chain [][]byte, sigSize int) int {
	if len(chain) == 0 || len(chain) > MaxCerts || sigSize < 1 || sigSize > MaxSignature {
		return 0
	}
	total := 0
	for _, c := range chain {
		if len(c) == 0 {
			return 0
		}
		total += len(c)
	}
	if total > MaxCertChain {
		return 0
	}
	return 2 + sigSize + 1 + 2*len(chain) + total
}

// AppendProof encodes p as a proof payload; it refuses sizes beyond the limits.
func AppendProof(dst []byte, p CertProof) ([]byte, error) {
	if ProofSize(p.Chain, len(p.Signature)) == 0 {
		return dst, fmt.Errorf("certificate proof out of bounds: %d certificates, %d-byte signature (at most %d certificates of %d bytes together, %d-byte signature)",
			len(p.Chain), len(p.Signature), MaxCerts, MaxCertChain, MaxSignature)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.Signature)))
	dst = append(dst, p.Signature...)
	dst = append(dst, byte(len(p.Chain)))
	for _, c := range p.Chain {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(c)))
		dst = append(dst, c...)
	}
	return dst, nil
}

// ParseProof decodes a proof payload, checking every length against the
// limits and the payload's end. The slices alias p.
func ParseProof(p []byte) (CertProof, error) {
	var out CertProof
	bad := func(what string) (CertProof, error) {
		return CertProof{}, fmt.Errorf("malformed certificate proof: %s", what)
	}
	if len(p) < 2 {
		return bad("no signature length")
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if n < 1 || n > MaxSignature || n > len(p) {
		return bad(fmt.Sprintf("signature of %d bytes", n))
	}
	out.Signature, p = p[:n], p[n:]
	if len(p) < 1 {
		return bad("no certificate count")
	}
	count := int(p[0])
	p = p[1:]
	if count < 1 || count > MaxCerts {
		return bad(fmt.Sprintf("%d certificates", count))
	}
	total := 0
	for range count {
		if len(p) < 2 {
			return bad("truncated certificate length")
		}
		n := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		total += n
		if n < 1 || n > len(p) || total > MaxCertChain {
			return bad(fmt.Sprintf("certificate of %d bytes", n))
		}
		out.Chain, p = append(out.Chain, p[:n]), p[n:]
	}
	if len(p) != 0 {
		return bad(fmt.Sprintf("%d bytes after the certificates", len(p)))
	}
	return out, nil
}
