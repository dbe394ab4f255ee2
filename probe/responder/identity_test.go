package responder

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"testing"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// proveWith runs the hello and asks for the certificate proof with a request
// of reqSize bytes (0: the announced size); it returns the hello-reply and
// the last frame.
func proveWith(t *testing.T, addr string, reqSize int) (wire.ServerHello, wire.Header, []byte, []byte, []byte) {
	t.Helper()
	c := dial(t, addr)
	h, _, client, server, err := handshakeAs(c, testKey, "sql1")
	if err != nil || h.Type != wire.AuthOK {
		t.Fatalf("handshake: %s, %v", h.Type, err)
	}
	sh, err := wire.ParseServerHello(server)
	if err != nil {
		t.Fatal(err)
	}
	if reqSize == 0 {
		reqSize = max(sh.ProofSize, 100)
	}
	if err := wire.WriteFrame(c, wire.ProofRequest, make([]byte, reqSize)); err != nil {
		t.Fatal(err)
	}
	h, p, err := wire.ReadFrame(c, make([]byte, wire.MaxPayload))
	if err != nil {
		t.Fatalf("reading the answer to the proof request: %v", err)
	}
	return sh, h, append([]byte(nil), p...), client, server
}

// TestCertificateProof: the responder names its probe in the hello-reply and,
// asked with a request as long as the proof, sends its certificate and a
// signature over both hellos that verifies against the CA.
func TestCertificateProof(t *testing.T) {
	cert, pool := testCert(t, "mi1")
	_, addr := startResponder(t, Config{Key: testKey, Name: "mi1", Certificate: func() *tls.Certificate { return &cert }})
	sh, h, p, client, server := proveWith(t, addr, 0)
	if sh.Name != "mi1" || sh.ProofSize == 0 {
		t.Fatalf("hello-reply names %q with a %d-byte proof; want mi1 and a proof", sh.Name, sh.ProofSize)
	}
	if h.Type != wire.Proof || len(p) > sh.ProofSize {
		t.Fatalf("got a %s frame of %d bytes; want a proof of at most %d", h.Type, len(p), sh.ProofSize)
	}
	cp, err := wire.ParseProof(p)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cp.Chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("the certificate does not verify against the CA: %v", err)
	}
	if name, _ := tlsconf.ProbeName(leaf); name != "mi1" {
		t.Errorf("the certificate names %q, want mi1", name)
	}
	if err := wire.VerifySignature(leaf, wire.SignedHello(client, server), cp.Signature); err != nil {
		t.Errorf("the signature over the hello does not verify: %v", err)
	}
}

func TestCertificateProofRefusals(t *testing.T) {
	cert, _ := testCert(t, "mi1")
	tests := []struct {
		name     string
		cfg      Config
		reqSize  int
		twice    bool
		wantCode wire.ErrorCode
	}{
		{name: "no certificate", cfg: Config{Key: testKey, Name: "mi1"}, wantCode: wire.CodeNoCert},
		{name: "request shorter than the proof", cfg: Config{Key: testKey, Name: "mi1", Certificate: func() *tls.Certificate { return &cert }}, reqSize: 50, wantCode: wire.CodeProtocol},
		{name: "a second request", cfg: Config{Key: testKey, Name: "mi1", Certificate: func() *tls.Certificate { return &cert }}, twice: true, wantCode: wire.CodeLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, addr := startResponder(t, tt.cfg)
			sh, h, p, _, _ := proveWith(t, addr, tt.reqSize)
			if tt.twice {
				if h.Type != wire.Proof {
					t.Fatalf("first request: %s", h.Type)
				}
				// Two requests on one connection.
				c := dial(t, addr)
				if hh, _, err := handshake(c, testKey); err != nil || hh.Type != wire.AuthOK {
					t.Fatal(err)
				}
				for range 2 {
					if err := wire.WriteFrame(c, wire.ProofRequest, make([]byte, sh.ProofSize)); err != nil {
						t.Fatal(err)
					}
				}
				buf := make([]byte, wire.MaxPayload)
				if h, _, _ = wire.ReadFrame(c, buf); h.Type != wire.Proof {
					t.Fatalf("first answer %s, want proof", h.Type)
				}
				h, p, _ = wire.ReadFrame(c, buf)
			}
			if h.Type != wire.Error || wire.ParseError(p).Code != tt.wantCode {
				t.Fatalf("got %s %q, want error %s", h.Type, p, tt.wantCode)
			}
			if st := r.Stats(); st.BytesOut > st.BytesIn {
				t.Errorf("sent %d bytes after receiving %d", st.BytesOut, st.BytesIn)
			}
		})
	}
}

// TestCertificateReload: the responder proves with the certificate its source
// returns now — a reloaded one from the next hello on.
func TestCertificateReload(t *testing.T) {
	first, _ := testCert(t, "mi1")
	second, _ := testCert(t, "mi1")
	var cur atomic.Pointer[tls.Certificate]
	cur.Store(&first)
	_, addr := startResponder(t, Config{Key: testKey, Name: "mi1", Certificate: cur.Load})
	for i, want := range []*tls.Certificate{&first, &second} {
		cur.Store(want)
		_, h, p, _, _ := proveWith(t, addr, 0)
		if h.Type != wire.Proof {
			t.Fatalf("hello %d: %s", i, h.Type)
		}
		cp, _ := wire.ParseProof(p)
		if !bytes.Equal(cp.Chain[0], want.Certificate[0]) {
			t.Errorf("hello %d proved with an old certificate", i)
		}
	}
}
