package responder

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startResponder serves cfg on 127.0.0.1:0 until the test ends.
func startResponder(t testing.TB, cfg Config) (*Responder, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := New(cfg, discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r, lis.Addr().String()
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// handshake runs the client side of the hello with key and returns the last
// frame the responder sent (AuthOK on success).
func handshake(c net.Conn, key []byte) (wire.Header, []byte, error) {
	h, p, _, _, err := handshakeAs(c, key, "sql1")
	return h, p, err
}

// handshakeAs runs the hello as probe name and also returns both hello
// payloads (the certificate proof signs them).
func handshakeAs(c net.Conn, key []byte, name string) (h wire.Header, p, client, server []byte, err error) {
	client = wire.NewClientHello(name).Marshal()
	if err := wire.WriteFrame(c, wire.Hello, client); err != nil {
		return wire.Header{}, nil, nil, nil, err
	}
	buf := make([]byte, wire.MaxPayload)
	h, p, err = wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.HelloReply {
		return h, p, client, nil, err
	}
	server = append([]byte(nil), p...)
	if err := wire.WriteFrame(c, wire.Auth, wire.ClientProof(key, client, server)); err != nil {
		return wire.Header{}, nil, nil, nil, err
	}
	h, p, err = wire.ReadFrame(c, buf)
	return h, p, client, server, err
}

// badNameHello is a hello whose name has a space.
func badNameHello() []byte {
	p := wire.NewClientHello("").Marshal()
	p[wire.NonceSize] = 3
	copy(p[wire.NonceSize+1:], "a b")
	return p
}

// testCert issues a probe certificate for name from a new CA and returns it
// with the CA's pool.
func testCert(t testing.TB, name string) (tls.Certificate, *x509.CertPool) {
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
