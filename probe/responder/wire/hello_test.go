package wire

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
)

var (
	testKey  = bytes.Repeat([]byte{1}, 32)
	otherKey = bytes.Repeat([]byte{2}, 32)
)

func TestHelloRoundTrip(t *testing.T) {
	ch := NewClientHello("sql1")
	client := ch.Marshal()
	if len(client) != HelloSize {
		t.Fatalf("hello is %d bytes, want %d", len(client), HelloSize)
	}
	got, err := ParseClientHello(client)
	if err != nil || got != ch {
		t.Fatalf("ParseClientHello: %+v, %v; want %+v", got, err, ch)
	}
	sh := ServerHello{Name: "mi1", ProofSize: 700}
	server := sh.Marshal(testKey, client)
	if len(server) != HelloSize {
		t.Fatalf("hello-reply is %d bytes, want %d (never more than the hello)", len(server), HelloSize)
	}
	back, err := ParseServerHello(server)
	if err != nil || back != sh {
		t.Fatalf("ParseServerHello: %+v, %v; want %+v", back, err, sh)
	}
	if !VerifyServerHello(testKey, client, server) {
		t.Fatal("the responder's MAC does not verify with its key")
	}
	if VerifyServerHello(otherKey, client, server) {
		t.Error("the MAC verifies with another key")
	}
	if bytes.Equal(ClientProof(testKey, client, server), server[macOff:]) {
		t.Error("the client's proof equals the responder's: a proof could be reflected")
	}
	if len(ClientProof(testKey, client, server)) != MACSize {
		t.Errorf("client proof is not %d bytes", MACSize)
	}
}

// TestHelloBindsEveryByte: a path attacker without the key changes any byte
// of either hello — a name, a nonce, the proof size — and the MAC fails.
func TestHelloBindsEveryByte(t *testing.T) {
	client := NewClientHello("sql1").Marshal()
	server := ServerHello{Name: "mi1", ProofSize: 700}.Marshal(testKey, client)
	for i := range HelloSize {
		c := bytes.Clone(client)
		c[i] ^= 0x01
		if VerifyServerHello(testKey, c, server) {
			t.Fatalf("changing byte %d of the hello keeps the MAC valid", i)
		}
		s := bytes.Clone(server)
		s[i] ^= 0x01
		if VerifyServerHello(testKey, client, s) {
			t.Fatalf("changing byte %d of the hello-reply keeps the MAC valid", i)
		}
	}
	// Swapping the name for another probe's.
	forged := ServerHello{Name: "sql2", ProofSize: 700}.Marshal(otherKey, client)
	copy(forged[macOff:], server[macOff:])
	if VerifyServerHello(testKey, client, forged) {
		t.Error("a hello-reply with another name and the original MAC verifies")
	}
}

func TestNames(t *testing.T) {
	for _, n := range []string{"a", "sql01", "mi-1.x_y", strings.Repeat("a", 63)} {
		if !ValidName(n) {
			t.Errorf("ValidName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "-a", ".a", "a b", "a/b", strings.Repeat("a", 64), "é"} {
		if ValidName(n) {
			t.Errorf("ValidName(%q) = true", n)
		}
	}
	p := make([]byte, HelloSize)
	p[nameOff] = 64
	if _, err := ParseClientHello(p); err == nil {
		t.Error("a 64-byte name length parses")
	}
	p[nameOff] = 3
	copy(p[nameOff+1:], "a b")
	if _, err := ParseClientHello(p); err == nil {
		t.Error("a name with a space parses")
	}
	p = ServerHello{Name: "mi1"}.Marshal(testKey, make([]byte, HelloSize))
	p[proofSizeOff], p[proofSizeOff+1] = 0xff, 0xff
	if _, err := ParseServerHello(p); err == nil {
		t.Error("a proof size beyond MaxProof parses")
	}
}

func testCert(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca, caPair, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.IssueProbe(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPair.CertPEM)
	return cert, pool
}

func TestCertProof(t *testing.T) {
	cert, _ := testCert(t, "mi1")
	other, _ := testCert(t, "mi1")
	client := NewClientHello("sql1").Marshal()
	sigSize, err := SignatureSize(cert.Leaf.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	size := ProofSize(cert.Certificate, sigSize)
	server := ServerHello{Name: "mi1", ProofSize: size}.Marshal(testKey, client)
	msg := SignedHello(client, server)
	sig, err := Sign(cert.PrivateKey.(crypto.Signer), msg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := AppendProof(nil, CertProof{Signature: sig, Chain: cert.Certificate})
	if err != nil {
		t.Fatal(err)
	}
	if len(p) > size {
		t.Fatalf("proof of %d bytes, announced at most %d", len(p), size)
	}
	if _, err := AppendFrame(nil, Proof, p); err != nil {
		t.Fatalf("the proof does not fit a proof frame: %v", err)
	}
	got, err := ParseProof(p)
	if err != nil || !bytes.Equal(got.Signature, sig) || len(got.Chain) != 1 || !bytes.Equal(got.Chain[0], cert.Certificate[0]) {
		t.Fatalf("ParseProof: %v", err)
	}
	if err := VerifySignature(cert.Leaf, msg, got.Signature); err != nil {
		t.Errorf("the signature does not verify: %v", err)
	}
	if err := VerifySignature(other.Leaf, msg, got.Signature); err == nil {
		t.Error("the signature verifies with another certificate's key")
	}
	replay := SignedHello(NewClientHello("sql1").Marshal(), server)
	if err := VerifySignature(cert.Leaf, replay, got.Signature); err == nil {
		t.Error("the signature verifies over another hello (a replay)")
	}
}

func TestProofLimits(t *testing.T) {
	big := bytes.Repeat([]byte{1}, MaxCertChain+1)
	if ProofSize([][]byte{big}, 72) != 0 {
		t.Error("a chain over MaxCertChain has a proof size")
	}
	if ProofSize([][]byte{{1}, {1}, {1}, {1}, {1}}, 72) != 0 {
		t.Error("five certificates have a proof size")
	}
	if ProofSize([][]byte{{1}}, MaxSignature+1) != 0 {
		t.Error("an oversize signature has a proof size")
	}
	if _, err := AppendProof(nil, CertProof{Signature: make([]byte, 10), Chain: [][]byte{big}}); err == nil {
		t.Error("an oversize proof encodes")
	}
	max, err := AppendProof(nil, CertProof{Signature: make([]byte, MaxSignature), Chain: [][]byte{make([]byte, MaxCertChain-3), {1}, {1}, {1}}})
	if err != nil || len(max) != MaxProof {
		t.Fatalf("the largest proof: %d bytes, %v; want %d", len(max), err, MaxProof)
	}
	for _, bad := range [][]byte{
		nil, {0, 0}, {0, 1, 9}, {0, 1, 9, 0}, {0, 1, 9, 5}, {0, 1, 9, 1, 0, 2, 1},
		{0, 1, 9, 1, 0, 1, 1, 0}, // trailing byte
		{0xff, 0xff, 1},
	} {
		if _, err := ParseProof(bad); err == nil {
			t.Errorf("ParseProof(%x) accepted", bad)
		}
	}
}
