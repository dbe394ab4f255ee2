// Package wire is the responder protocol's framing: the frame header, the
// message types with hard length limits, and how frames are read and written.
// The responder (server) and the echo kind (client) both use it; nothing here
// touches the network beyond an io.Reader or io.Writer.
//
// Every frame is an 8-byte header followed by a payload:
//
//	0      1      2        3      4                 8
//	+------+------+--------+------+-----------------+----------------
//	| 'L'  | 'M'  | version| type | payload length  | payload ...
//	+------+------+--------+------+-----------------+----------------
//	                                uint32, big-endian
//
// The magic bytes let a client tell a linkmesh responder from anything else
// that answered on the port; the version byte is the protocol version of the
// frame (this package speaks Version 2: version 1 had no probe names in the
// hello and no certificate proof); each type has a minimum and maximum
// payload length, checked before a byte of the payload is read, so a length
// field can never make a reader allocate or wait for more than the type allows.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Header layout and the protocol version this package speaks.
const (
	// HeaderSize is the length of a frame header in bytes.
	HeaderSize = 8
	// Version is the protocol version of the frames this package writes.
	// Version 2 names the probes in the hello and adds the certificate proof
	// (proof-request, proof); version 1 proved the mesh key only.
	Version = 2
	magic0  = 'L'
	magic1  = 'M'
)

// Size limits shared by the responder and the echo kind.
const (
	// NonceSize is the length of each side's hello nonce.
	NonceSize = 32
	// MACSize is the length of a hello proof (HMAC-SHA256).
	MACSize = 32
	// MaxEcho is the largest echo payload.
	MaxEcho = 1024
	// MaxMTUPayload is the largest path-MTU test payload: a 9000-byte jumbo
	// packet minus the smallest IPv4 and TCP headers and the frame header.
	MaxMTUPayload = 9000 - 40 - HeaderSize
	// MaxBurstChunk is the largest payload of one throughput burst frame.
	MaxBurstChunk = 64 << 10
	// MaxErrorMessage is the longest message an error frame carries.
	MaxErrorMessage = 200
	// MaxPayload is the largest payload of any type: a reader needs a buffer
	// this large to accept every frame after the hello.
	MaxPayload = MaxBurstChunk
	// MaxHandshakePayload is the largest payload the hello and its proof
	// use: before authentication a reader needs no more buffer than this.
	MaxHandshakePayload = HelloSize
)

// Type is a frame's message type.
type Type uint8

// The message types. "C→S" frames are sent by the echo client, "S→C" by the
// responder.
const (
	// Hello (C→S): the client's nonce and probe name, and reserved bytes so
	// the responder's answer is never larger than the question (ClientHello).
	Hello Type = 1
	// HelloReply (S→C): the responder's nonce, its probe name, the size of its
	// certificate proof and its proof of the mesh key over all of it
	// (ServerHello).
	HelloReply Type = 2
	// Auth (C→S): the client's proof of the mesh key over the whole hello.
	Auth Type = 3
	// AuthOK (S→C): the client is authenticated; measurements may start.
	AuthOK Type = 4
	// Echo (C→S): a round trip; the payload comes back in an EchoReply.
	Echo Type = 5
	// EchoReply (S→C): the Echo payload, with bytes 4..8 set to the
	// responder's count of retransmitted segments (0 where unknown).
	EchoReply Type = 6
	// MTU (C→S): a path-MTU test frame, sized to fill one packet.
	MTU Type = 7
	// MTUAck (S→C): the length of the MTU payload received (uint32).
	MTUAck Type = 8
	// BurstData (C→S): throughput burst bytes; no reply.
	BurstData Type = 9
	// BurstEnd (C→S): the end of a burst (16 reserved bytes).
	BurstEnd Type = 10
	// BurstReport (S→C): what the responder measured of the burst.
	BurstReport Type = 11
	// ProofRequest (C→S): asks for the certificate proof; its payload is
	// padding as long as the proof size the hello-reply announced, so the
	// proof never makes the responder send more than it received.
	ProofRequest Type = 12
	// Proof (S→C): the responder's certificate chain and its signature over
	// the hello (Proof).
	Proof Type = 13
	// Error (S→C): a refusal (ErrorCode and a short message); the
	// responder closes the connection after sending it.
	Error Type = 15
)

// limits holds each type's payload length bounds, inclusive.
var limits = [...]struct{ min, max uint32 }{
	Hello:       {HelloSize, HelloSize},
	HelloReply:  {HelloSize, HelloSize},
	Auth:        {MACSize, MACSize},
	AuthOK:      {0, 0},
	Echo:        {8, MaxEcho},
	EchoReply:   {8, MaxEcho},
	MTU:         {4, MaxMTUPayload},
	MTUAck:      {4, 4},
	BurstData:   {1, MaxBurstChunk},
	BurstEnd:    {16, 16},
	BurstReport: {16, 16},
	// ProofRequest and Proof: after the hello only (the handshake buffer
	// holds neither).
	ProofRequest: {minProof, MaxProof},
	Proof:        {minProof, MaxProof},
	Error:        {1, 1 + MaxErrorMessage},
}

var typeNames = map[Type]string{
	Hello: "hello", HelloReply: "hello-reply", Auth: "auth", AuthOK: "auth-ok",
	Echo: "echo", EchoReply: "echo-reply", MTU: "mtu", MTUAck: "mtu-ack",
	BurstData: "burst-data", BurstEnd: "burst-end", BurstReport: "burst-report",
	ProofRequest: "proof-request", Proof: "proof", Error: "error",
}

// String names the type for logs, e.g. "hello".
func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Known reports whether t is one of the defined types.
func (t Type) Known() bool {
	_, ok := typeNames[t]
	return ok
}

// Limits returns the smallest and largest payload t allows (0, 0 for an
// unknown type).
func (t Type) Limits() (min, max int) {
	if !t.Known() {
		return 0, 0
	}
	l := limits[t]
	return int(l.min), int(l.max)
}

// ErrNotLinkmesh: the first bytes are not a linkmesh frame header, so whatever
// answered does not speak the responder protocol.
var ErrNotLinkmesh = errors.New("not the linkmesh responder protocol")

// VersionError: the frame is a linkmesh frame of a protocol version this
// package does not speak.
type VersionError struct{ Got uint8 }

// Error names both versions.
func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version %d (this side speaks %d)", e.Got, Version)
}

// TypeError: the frame's type is unknown.
type TypeError struct{ Got Type }

// Error names the unknown type.
func (e *TypeError) Error() string { return fmt.Sprintf("unknown frame type %d", uint8(e.Got)) }

// LengthError: a frame's payload length is outside what its type (or the
// reader's buffer) allows.
type LengthError struct {
	Type     Type
	Len      uint32
	Min, Max int
}

// Error gives the length and what the type allows.
func (e *LengthError) Error() string {
	return fmt.Sprintf("%s frame with a %d-byte payload; allowed %d to %d", e.Type, e.Len, e.Min, e.Max)
}

// Header is a decoded, validated frame header.
type Header struct {
	Type Type
	// Len is the payload length, within the type's limits.
	Len int
}

// ParseHeader validates an 8-byte header. A header that parses has a known
// type, this package's version and a length within the type's limits.
func ParseHeader(b [HeaderSize]byte) (Header, error) {
	if b[0] != magic0 || b[1] != magic1 {
		return Header{}, ErrNotLinkmesh
	}
	if b[2] != Version {
		return Header{}, &VersionError{Got: b[2]}
	}
	t := Type(b[3])
	if !t.Known() {
		return Header{}, &TypeError{Got: t}
	}
	n := binary.BigEndian.Uint32(b[4:])
	l := limits[t]
	if n < l.min || n > l.max {
		return Header{}, &LengthError{Type: t, Len: n, Min: int(l.min), Max: int(l.max)}
	}
	return Header{Type: t, Len: int(n)}, nil
}

// ReadHeader reads and validates one frame header from r. A stream that ends
// before the header is complete returns io.EOF (nothing read) or
// io.ErrUnexpectedEOF.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Header{}, err
	}
	return ParseHeader(b)
}

// ReadFrame reads one frame from r into buf and returns its header and payload
// (a slice of buf, valid until buf is reused). A payload longer than buf is a
// *LengthError, detected before any of it is read: the caller's buffer, not
// the length field, bounds what is read.
func ReadFrame(r io.Reader, buf []byte) (Header, []byte, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return Header{}, nil, err
	}
	p, err := ReadPayload(r, h, buf)
	return h, p, err
}

// ReadPayload reads the payload of a frame whose header was read already.
func ReadPayload(r io.Reader, h Header, buf []byte) ([]byte, error) {
	if h.Len > len(buf) {
		min, _ := h.Type.Limits()
		return nil, &LengthError{Type: h.Type, Len: uint32(h.Len), Min: min, Max: len(buf)}
	}
	p := buf[:h.Len]
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the header promised a payload
		}
		return nil, err
	}
	return p, nil
}

// AppendFrame appends a frame of type t with payload p to dst. It refuses a
// type or length the protocol does not allow, so nothing invalid is sent.
func AppendFrame(dst []byte, t Type, p []byte) ([]byte, error) {
	min, max := t.Limits()
	if !t.Known() || len(p) < min || len(p) > max {
		return dst, &LengthError{Type: t, Len: uint32(len(p)), Min: min, Max: max}
	}
	dst = append(dst, magic0, magic1, Version, byte(t))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...), nil
}

// WriteFrame writes one frame to w in a single Write call (so a small frame
// leaves in one TCP segment).
func WriteFrame(w io.Writer, t Type, p []byte) error {
	b, err := AppendFrame(make([]byte, 0, HeaderSize+len(p)), t, p)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
