package wire

import (
	"bytes"
	"testing"
)

// FuzzReadFrame: whatever bytes arrive, ReadFrame never panics, never returns
// a payload outside its type's limits or longer than the buffer, and a frame it
// accepts encodes back to exactly the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range seedFrames(f) {
		f.Add(seed)
	}
	bufs := map[string][]byte{
		"handshake": make([]byte, MaxHandshakePayload),
		"full":      make([]byte, MaxPayload),
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for name, buf := range bufs {
			r := bytes.NewReader(in)
			h, p, err := ReadFrame(r, buf)
			if err != nil {
				continue
			}
			min, max := h.Type.Limits()
			if len(p) < min || len(p) > max || len(p) > len(buf) {
				t.Fatalf("%s buffer: %s payload of %d bytes; limits %d..%d, buffer %d", name, h.Type, len(p), min, max, len(buf))
			}
			consumed := len(in) - r.Len()
			again, err := AppendFrame(nil, h.Type, p)
			if err != nil {
				t.Fatalf("accepted frame does not encode: %v", err)
			}
			if !bytes.Equal(again, in[:consumed]) {
				t.Fatalf("re-encoded frame differs from the bytes read")
			}
		}
		// The decoders of payloads never panic either.
		_ = ParseError(in)
		_, _ = ParseBurstReport(in)
	})
}

// seedFrames are the corpus' starting points: every valid type, and the
// malformed shapes hostile clients send.
func seedFrames(tb testing.TB) [][]byte {
	var seeds [][]byte
	for typ := range Type(16) {
		min, max := typ.Limits()
		if !typ.Known() {
			continue
		}
		for _, n := range []int{min, max} {
			b, err := AppendFrame(nil, typ, bytes.Repeat([]byte{0xa5}, n))
			if err != nil {
				tb.Fatal(err)
			}
			seeds = append(seeds, b)
		}
	}
	return append(seeds,
		nil,
		[]byte("LM"),
		[]byte{'L', 'M', Version, byte(Hello), 0xff, 0xff, 0xff, 0xff},
		[]byte{'L', 'M', 9, byte(Hello), 0, 0, 0, 64},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	)
}
