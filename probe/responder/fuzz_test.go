package responder

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// scriptConn is a net.Conn that plays a client from a script: the hello (and,
// once the responder has answered it, a correct auth) when authenticate is
// set, then the fuzz bytes, then EOF. It records what the responder writes.
type scriptConn struct {
	authenticate bool
	stage        int // 0 hello, 1 auth, 2 input, 3 EOF
	pending      []byte
	input        []byte
	hello        []byte
	written      bytes.Buffer
	read         int
}

func (s *scriptConn) Read(p []byte) (int, error) {
	for len(s.pending) == 0 {
		switch {
		case s.stage == 0 && s.authenticate:
			s.hello = wire.NewClientHello("fuzz").Marshal()
			s.pending, _ = wire.AppendFrame(nil, wire.Hello, s.hello)
		case s.stage == 1 && s.authenticate:
			h, reply, err := wire.ReadFrame(bytes.NewReader(s.written.Bytes()), make([]byte, wire.HelloSize))
			if err != nil || h.Type != wire.HelloReply {
				return 0, io.EOF
			}
			s.pending, _ = wire.AppendFrame(nil, wire.Auth, wire.ClientProof(testKey, s.hello, reply))
		case s.stage == 2:
			s.pending = s.input
		case s.stage >= 3:
			return 0, io.EOF
		}
		s.stage++
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	s.read += n
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error)      { return s.written.Write(p) }
func (s *scriptConn) Close() error                     { return nil }
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzResponder feeds arbitrary bytes to the responder's connection handler,
// before the hello (mode even) or after a correct one (mode odd), of a
// responder with a certificate (mode bit 1) or without. Whatever
// arrives, the handler ends without panicking and never writes more bytes than
// it has read: the responder cannot be used to amplify traffic.
func FuzzResponder(f *testing.F) {
	for _, seed := range responderSeeds(f) {
		f.Add(seed.mode, seed.in)
	}
	r := New(Config{Key: testKey, Name: "mi1", MaxFrames: 1000, MaxBurstBytes: 1 << 20}, discardLogger())
	cert, _ := testCert(f, "mi1")
	withCert := New(Config{Key: testKey, Name: "mi1", MaxFrames: 1000, MaxBurstBytes: 1 << 20,
		Certificate: func() *tls.Certificate { return &cert }}, discardLogger())
	f.Fuzz(func(t *testing.T, mode uint8, in []byte) {
		c := &scriptConn{authenticate: mode%2 == 1, input: in}
		r := r
		if mode&2 != 0 {
			r = withCert
		}
		s, _ := r.reg.admit(c, 1<<20)
		r.handle(s)
		r.reg.done(s)
		if c.written.Len() > c.read {
			t.Fatalf("wrote %d bytes after reading %d", c.written.Len(), c.read)
		}
	})
}

type responderSeed struct {
	mode uint8
	in   []byte
}

func responderSeeds(tb testing.TB) []responderSeed {
	frame := func(typ wire.Type, n int) []byte {
		b, err := wire.AppendFrame(nil, typ, bytes.Repeat([]byte{0x5a}, n))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return []responderSeed{
		{0, nil},
		{0, frame(wire.Hello, wire.HelloSize)},
		{0, cat(frame(wire.Hello, wire.HelloSize), frame(wire.Auth, 32))},
		{0, frame(wire.ProofRequest, 800)},
		{2, cat(frame(wire.Hello, wire.HelloSize), frame(wire.Auth, 32), frame(wire.ProofRequest, 800))},
		{0, []byte("GET / HTTP/1.1\r\n\r\n")},
		{0, []byte{'L', 'M', 2, 1, 0, 0, 0, 2, 0, 0}},
		{1, frame(wire.Echo, 64)},
		{1, cat(frame(wire.Echo, 8), frame(wire.MTU, 1400), frame(wire.BurstData, 1000), frame(wire.BurstEnd, 16))},
		{1, cat(frame(wire.BurstData, 100), frame(wire.BurstEnd, 16), frame(wire.BurstEnd, 16))},
		{1, frame(wire.HelloReply, wire.HelloSize)},
		{1, frame(wire.ProofRequest, 800)},
		{3, frame(wire.ProofRequest, 800)},
		{3, frame(wire.ProofRequest, 10)},
		{3, cat(frame(wire.ProofRequest, 800), frame(wire.ProofRequest, 800))},
		{3, cat(frame(wire.ProofRequest, 800), frame(wire.Echo, 64), frame(wire.Proof, 800))},
		{1, []byte{'L', 'M', wire.Version, byte(wire.BurstData), 0xff, 0xff, 0xff, 0xff}},
		{1, frame(wire.Echo, 1024)[:100]},
	}
}
