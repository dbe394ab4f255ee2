package responder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

func TestHello(t *testing.T) {
	tests := []struct {
		name       string
		serverKey  []byte
		clientKey  []byte
		want       wire.Type
		wantCode   wire.ErrorCode
		wantDetail string
	}{
		{name: "same key", serverKey: testKey, clientKey: testKey, want: wire.AuthOK},
		{name: "another key", serverKey: testKey, clientKey: bytes.Repeat([]byte{8}, 32), want: wire.Error, wantCode: wire.CodeAuth},
		{name: "responder without key", serverKey: nil, clientKey: testKey, want: wire.Error, wantCode: wire.CodeNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := startResponder(t, Config{Key: tt.serverKey})
			c := dial(t, addr)
			h, p, err := handshake(c, tt.clientKey)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if h.Type != tt.want {
				t.Fatalf("got %s frame, want %s", h.Type, tt.want)
			}
			if h.Type == wire.Error {
				if e := wire.ParseError(p); e.Code != tt.wantCode {
					t.Errorf("error code %s (%q), want %s", e.Code, e.Message, tt.wantCode)
				}
				assertClosed(t, c)
			}
		})
	}
}

func TestServe(t *testing.T) {
	r, addr := startResponder(t, Config{Key: testKey})
	c := dial(t, addr)
	if h, _, err := handshake(c, testKey); err != nil || h.Type != wire.AuthOK {
		t.Fatalf("handshake: %s, %v", h.Type, err)
	}
	buf := make([]byte, wire.MaxPayload)

	echo := bytes.Repeat([]byte{0x42}, 64)
	if err := wire.WriteFrame(c, wire.Echo, echo); err != nil {
		t.Fatal(err)
	}
	h, p, err := wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.EchoReply || len(p) != len(echo) || !bytes.Equal(p[8:], echo[8:]) {
		t.Fatalf("echo: got %s %d bytes (%v), want the payload back", h.Type, len(p), err)
	}

	if err := wire.WriteFrame(c, wire.MTU, make([]byte, 1400)); err != nil {
		t.Fatal(err)
	}
	h, p, err = wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.MTUAck || binary.BigEndian.Uint32(p) != 1400 {
		t.Fatalf("mtu: got %s %x (%v), want an ack of 1400", h.Type, p, err)
	}

	for range 20 {
		if err := wire.WriteFrame(c, wire.BurstData, make([]byte, wire.MaxBurstChunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wire.WriteFrame(c, wire.BurstEnd, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	h, p, err = wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.BurstReport {
		t.Fatalf("burst: got %s (%v), want a report", h.Type, err)
	}
	res, err := wire.ParseBurstReport(p)
	if err != nil || res.Bytes != 19*wire.MaxBurstChunk || res.Duration <= 0 {
		t.Errorf("burst report %+v (%v), want 19 chunks after the first and a positive duration", res, err)
	}
	c.Close()
	waitfor.Cond(t, 5*time.Second, "connection forgotten", func() bool { live, _ := r.reg.counts(); return live == 0 })
	st := r.Stats()
	if st.BytesOut > st.BytesIn {
		t.Errorf("sent %d bytes for %d received", st.BytesOut, st.BytesIn)
	}
}

// TestHostileInput: whatever a client without the key sends, the responder
// closes the connection, at most answers with an error no larger than what it
// received, and keeps serving.
func TestHostileInput(t *testing.T) {
	r, addr := startResponder(t, Config{Key: testKey, HandshakeTimeout: 300 * time.Millisecond})
	helloFrame, _ := wire.AppendFrame(nil, wire.Hello, wire.NewClientHello("sql1").Marshal())
	tests := []struct {
		name string
		send []byte
		// wantError: the responder answers with an Error frame of this code
		// (0: it closes without a word).
		wantError wire.ErrorCode
	}{
		{name: "connect and close (the tcp kind)", send: nil},
		{name: "random bytes", send: []byte("\x9a\x11\xfe\x00\x00garbage that is not a frame at all")},
		{name: "http request", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "truncated header", send: helloFrame[:5]},
		{name: "truncated hello", send: helloFrame[:30]},
		{name: "huge length field", send: []byte{'L', 'M', wire.Version, byte(wire.BurstData), 0x7f, 0xff, 0xff, 0xff}},
		{name: "echo before hello", send: mustFrame(t, wire.Echo, make([]byte, 64)), wantError: wire.CodeProtocol},
		{name: "future version", send: []byte{'L', 'M', 9, 1, 0, 0, 0, 64, 1, 2, 3, 4}, wantError: wire.CodeVersion},
		{name: "version 1 hello (an older probe)", send: []byte{'L', 'M', 1, 1, 0, 0, 0, 64, 1, 2, 3, 4}, wantError: wire.CodeVersion},
		{name: "hello with an invalid name", send: mustFrame(t, wire.Hello, badNameHello()), wantError: wire.CodeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c) // until the responder closes
			if err != nil && !isReset(err) {
				t.Fatalf("read: %v", err)
			}
			if len(got) > len(tt.send) {
				t.Errorf("answered %d bytes to %d", len(got), len(tt.send))
			}
			if tt.wantError == 0 {
				if len(got) != 0 {
					t.Errorf("answered %q, want nothing", got)
				}
				return
			}
			h, p, err := wire.ReadFrame(bytes.NewReader(got), make([]byte, wire.MaxPayload))
			if err != nil || h.Type != wire.Error || wire.ParseError(p).Code != tt.wantError {
				t.Errorf("answer %q: want an error frame with code %s", got, tt.wantError)
			}
		})
	}
	// Still serving.
	c := dial(t, addr)
	if h, _, err := handshake(c, testKey); err != nil || h.Type != wire.AuthOK {
		t.Fatalf("handshake after the hostile clients: %s, %v", h.Type, err)
	}
	if st := r.Stats(); st.ProtocolErrors == 0 {
		t.Errorf("stats %+v: no protocol errors counted", st)
	}
}

func mustFrame(t testing.TB, typ wire.Type, p []byte) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, typ, p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlowlorisEvicted: clients that never finish their hello cannot keep a
// measuring client out: the oldest is evicted to make room, and each is cut at
// the handshake deadline anyway.
func TestSlowlorisEvicted(t *testing.T) {
	r, addr := startResponder(t, Config{Key: testKey, MaxConns: 4, MaxAuthenticated: 2, HandshakeTimeout: 30 * time.Second})
	var slow []net.Conn
	for range 8 {
		c := dial(t, addr)
		c.Write([]byte{'L'}) // one byte of a header, then nothing
		slow = append(slow, c)
	}
	waitfor.Cond(t, 5*time.Second, "4 live connections", func() bool { live, _ := r.reg.counts(); return live == 4 })
	c := dial(t, addr)
	if h, _, err := handshake(c, testKey); err != nil || h.Type != wire.AuthOK {
		t.Fatalf("handshake with %d slow clients connected: %s, %v", len(slow), h.Type, err)
	}
	if st := r.Stats(); st.Evicted < 5 {
		t.Errorf("evicted %d, want at least 5 (9 connections, room for 4)", st.Evicted)
	}
}

func TestHandshakeDeadlineIsAbsolute(t *testing.T) {
	_, addr := startResponder(t, Config{Key: testKey, HandshakeTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	start := time.Now()
	hello := mustFrame(t, wire.Hello, make([]byte, wire.HelloSize))
	var err error
	for i := 0; i < len(hello) && err == nil; i++ { // a byte every 50 ms
		_, err = c.Write(hello[i : i+1])
		time.Sleep(50 * time.Millisecond) // real time: a slow client over a real socket is the scenario
	}
	assertClosed(t, c)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a trickling client kept the connection for %v; the hello deadline is 300 ms", took)
	}
}

func TestBusy(t *testing.T) {
	_, addr := startResponder(t, Config{Key: testKey, MaxConns: 4, MaxAuthenticated: 1})
	first := dial(t, addr)
	if h, _, err := handshake(first, testKey); err != nil || h.Type != wire.AuthOK {
		t.Fatalf("first: %s, %v", h.Type, err)
	}
	second := dial(t, addr)
	h, p, err := handshake(second, testKey)
	if err != nil || h.Type != wire.Error || wire.ParseError(p).Code != wire.CodeBusy {
		t.Fatalf("second: %s %q %v, want a busy error", h.Type, p, err)
	}
}

func assertClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || isReset(err) {
			return
		}
		t.Fatalf("connection not closed by the responder: %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}
