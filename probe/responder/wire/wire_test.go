package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func frame(t testing.TB, typ Type, p []byte) []byte {
	t.Helper()
	b, err := AppendFrame(nil, typ, p)
	if err != nil {
		t.Fatalf("AppendFrame(%s, %d bytes): %v", typ, len(p), err)
	}
	return b
}

func TestReadFrame(t *testing.T) {
	hello := frame(t, Hello, make([]byte, HelloSize))
	huge := []byte{'L', 'M', Version, byte(BurstData), 0xff, 0xff, 0xff, 0xff}
	tests := []struct {
		name    string
		in      []byte
		buf     int
		want    Type
		wantLen int
		wantErr func(error) bool
	}{
		{name: "hello", in: hello, buf: MaxPayload, want: Hello, wantLen: HelloSize},
		{name: "echo", in: frame(t, Echo, []byte("12345678")), buf: MaxPayload, want: Echo, wantLen: 8},
		{name: "auth ok, empty payload", in: frame(t, AuthOK, nil), buf: 0, want: AuthOK},
		{name: "empty stream", in: nil, buf: MaxPayload, wantErr: is(io.EOF)},
		{name: "truncated header", in: hello[:5], buf: MaxPayload, wantErr: is(io.ErrUnexpectedEOF)},
		{name: "truncated payload", in: hello[:20], buf: MaxPayload, wantErr: is(io.ErrUnexpectedEOF)},
		{name: "header only", in: hello[:HeaderSize], buf: MaxPayload, wantErr: is(io.ErrUnexpectedEOF)},
		{name: "http request", in: []byte("GET / HTTP/1.1\r\n\r\n"), buf: MaxPayload, wantErr: is(ErrNotLinkmesh)},
		{name: "tls client hello", in: []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0}, buf: MaxPayload, wantErr: is(ErrNotLinkmesh)},
		{name: "future version", in: []byte{'L', 'M', 3, 1, 0, 0, 0, 64}, buf: MaxPayload, wantErr: as[*VersionError]},
		{name: "version 1 (no probe names)", in: []byte{'L', 'M', 1, 1, 0, 0, 0, 64}, buf: MaxPayload, wantErr: as[*VersionError]},
		{name: "proof request larger than a proof", in: []byte{'L', 'M', Version, byte(ProofRequest), 0, 0, 0x20, 0}, buf: MaxPayload, wantErr: as[*LengthError]},
		{name: "proof larger than the limit", in: []byte{'L', 'M', Version, byte(Proof), 0, 1, 0, 0}, buf: MaxPayload, wantErr: as[*LengthError]},
		{name: "proof request in the handshake buffer", in: frame(t, ProofRequest, make([]byte, 600)), buf: MaxHandshakePayload, wantErr: as[*LengthError]},
		{name: "unknown type", in: []byte{'L', 'M', Version, 99, 0, 0, 0, 1}, buf: MaxPayload, wantErr: as[*TypeError]},
		{name: "huge length field", in: huge, buf: MaxPayload, wantErr: as[*LengthError]},
		{name: "hello too short", in: []byte{'L', 'M', Version, byte(Hello), 0, 0, 0, 63}, buf: MaxPayload, wantErr: as[*LengthError]},
		{name: "burst chunk larger than a handshake buffer", in: frame(t, BurstData, make([]byte, 1000)), buf: MaxHandshakePayload, wantErr: as[*LengthError]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p, err := ReadFrame(bytes.NewReader(tt.in), make([]byte, tt.buf))
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("got err %v (type %T), want a matching error", err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if h.Type != tt.want || len(p) != tt.wantLen {
				t.Errorf("got %s with %d bytes, want %s with %d", h.Type, len(p), tt.want, tt.wantLen)
			}
		})
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func as[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestAppendFrameRefusesWhatReadFrameRefuses(t *testing.T) {
	for typ := range Type(20) {
		min, max := typ.Limits()
		for _, n := range []int{0, min, max, max + 1} {
			b, err := AppendFrame(nil, typ, make([]byte, n))
			valid := typ.Known() && n >= min && n <= max
			if (err == nil) != valid {
				t.Errorf("AppendFrame(%s, %d bytes): err %v, want valid=%v", typ, n, err, valid)
			}
			if err == nil {
				if _, _, err := ReadFrame(bytes.NewReader(b), make([]byte, MaxPayload)); err != nil {
					t.Errorf("ReadFrame of AppendFrame(%s, %d): %v", typ, n, err)
				}
			}
		}
	}
}

func TestErrorPayload(t *testing.T) {
	long := strings.Repeat("é", 300)
	p := ErrorPayload(CodeAuth, long)
	if len(p) > 1+MaxErrorMessage {
		t.Fatalf("payload %d bytes, limit %d", len(p), 1+MaxErrorMessage)
	}
	e := ParseError(p)
	if e.Code != CodeAuth || !strings.HasPrefix(long, e.Message) {
		t.Errorf("got %v", e)
	}
	if _, err := AppendFrame(nil, Error, p); err != nil {
		t.Errorf("error payload does not fit an Error frame: %v", err)
	}
}

func TestBurstReport(t *testing.T) {
	r := BurstResult{Bytes: 2_500_000, Duration: time.Second}
	got, err := ParseBurstReport(AppendBurstReport(nil, r))
	if err != nil || got != r {
		t.Fatalf("round trip: got %v, %v; want %v", got, err, r)
	}
	if rate := got.Rate(); rate != 20e6 {
		t.Errorf("rate %v, want 20e6", rate)
	}
	if _, err := ParseBurstReport(AppendBurstReport(nil, BurstResult{Bytes: 1, Duration: 2 * time.Hour})); err == nil {
		t.Error("a two-hour burst report was accepted")
	}
}
