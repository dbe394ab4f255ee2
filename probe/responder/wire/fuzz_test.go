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
		_, _ = ParseClientHello(in)
		_, _ = ParseServerHello(in)
		if cp, err := ParseProof(in); err == nil {
			// An accepted proof is within the limits and encodes back.
			again, err := AppendProof(nil, cp)
			if err != nil || !bytes.Equal(again, in) || len(in) > MaxProof {
				t.Fatalf("accepted proof of %d bytes does not encode back (%v)", len(in), err)
			}
		}
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
	// Hellos with names, and proof payloads (valid and cut short) for the
	// payload decoders.
	client := ClientHello{Name: "sql1"}.Marshal()
	server := ServerHello{Name: "mi1", ProofSize: 600}.Marshal(bytes.Repeat([]byte{7}, 32), client)
	proof, err := AppendProof(nil, CertProof{Signature: bytes.Repeat([]byte{1}, 72), Chain: [][]byte{bytes.Repeat([]byte{2}, 500), {3}}})
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range []struct {
		t Type
		p []byte
	}{{Hello, client}, {HelloReply, server}, {Proof, proof}, {ProofRequest, make([]byte, len(proof))}} {
		b, err := AppendFrame(nil, f.t, f.p)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	seeds = append(seeds, client, server, proof, proof[:len(proof)-1])
	return append(seeds,
		nil,
		[]byte("LM"),
		[]byte{'L', 'M', Version, byte(Hello), 0xff, 0xff, 0xff, 0xff},
		[]byte{'L', 'M', 9, byte(Hello), 0, 0, 0, 64},
		[]byte{'L', 'M', 1, byte(Hello), 0, 0, 0, 64}, // a version 1 hello
		[]byte{'L', 'M', Version, byte(ProofRequest), 0xff, 0xff, 0xff, 0xff},
		[]byte{'L', 'M', Version, byte(Proof), 0, 0, 0x12, 0x0c},
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	)
}
