package responder

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

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
	hello := make([]byte, 2*wire.NonceSize)
	_, _ = rand.Read(hello[:wire.NonceSize])
	if err := wire.WriteFrame(c, wire.Hello, hello); err != nil {
		return wire.Header{}, nil, err
	}
	buf := make([]byte, wire.MaxPayload)
	h, p, err := wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.HelloReply {
		return h, p, err
	}
	sn := append([]byte(nil), p[:wire.NonceSize]...)
	if err := wire.WriteFrame(c, wire.Auth, wire.ClientProof(key, hello[:wire.NonceSize], sn)); err != nil {
		return wire.Header{}, nil, err
	}
	return wire.ReadFrame(c, buf)
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
