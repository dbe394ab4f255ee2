package wire

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf8"
)

// ErrorCode says why the responder refused.
type ErrorCode uint8

// The error codes of an Error frame.
const (
	// CodeProtocol: the client sent something the protocol does not allow here.
	CodeProtocol ErrorCode = 1
	// CodeVersion: the client's protocol version is not spoken; the message
	// is the highest version the responder speaks, as a decimal number.
	CodeVersion ErrorCode = 2
	// CodeAuth: the client's proof was wrong (another mesh key).
	CodeAuth ErrorCode = 3
	// CodeNoKey: the responder has no mesh key, so it cannot authenticate anyone.
	CodeNoKey ErrorCode = 4
	// CodeBusy: the responder is at its limit of measuring connections.
	CodeBusy ErrorCode = 5
	// CodeLimit: the client went past a limit (burst size, frames, lifetime).
	CodeLimit ErrorCode = 6
	// CodeNoCert: the client asked for a certificate proof the responder
	// cannot give (it has no certificate, or one too large for the proof).
	CodeNoCert ErrorCode = 7
)

var codeNames = map[ErrorCode]string{
	CodeProtocol: "protocol", CodeVersion: "version", CodeAuth: "auth",
	CodeNoKey: "no-key", CodeBusy: "busy", CodeLimit: "limit",
}

// String names the code, e.g. "auth".
func (c ErrorCode) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// ErrorPayload builds an Error frame's payload: the code and msg cut to
// MaxErrorMessage bytes (on a UTF-8 boundary).
func ErrorPayload(c ErrorCode, msg string) []byte {
	if len(msg) > MaxErrorMessage {
		n := MaxErrorMessage
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		msg = msg[:n]
	}
	return append([]byte{byte(c)}, msg...)
}

// RemoteError is an Error frame received from the responder.
type RemoteError struct {
	Code    ErrorCode
	Message string
}

// Error describes the refusal, e.g. "responder refused (auth): …".
func (e *RemoteError) Error() string {
	return fmt.Sprintf("responder refused (%s): %s", e.Code, e.Message)
}

// ParseError decodes an Error frame's payload. Invalid UTF-8 in the message is
// replaced, so the text is always safe to log.
func ParseError(p []byte) *RemoteError {
	if len(p) == 0 {
		return &RemoteError{Code: CodeProtocol}
	}
	return &RemoteError{Code: ErrorCode(p[0]), Message: string([]rune(string(p[1:])))}
}

// BurstResult is what the responder measured of a throughput burst: the bytes
// that arrived after the first data frame, and the time from the end of the
// first data frame to the end of the last one.
type BurstResult struct {
	Bytes    uint64
	Duration time.Duration
}

// AppendBurstReport encodes r as a BurstReport payload (16 bytes).
func AppendBurstReport(dst []byte, r BurstResult) []byte {
	dst = binary.BigEndian.AppendUint64(dst, r.Bytes)
	return binary.BigEndian.AppendUint64(dst, uint64(max(r.Duration, 0)))
}

// ParseBurstReport decodes a BurstReport payload.
func ParseBurstReport(p []byte) (BurstResult, error) {
	if len(p) != 16 {
		return BurstResult{}, fmt.Errorf("burst report of %d bytes, want 16", len(p))
	}
	d := binary.BigEndian.Uint64(p[8:])
	if d > uint64(time.Hour) {
		return BurstResult{}, fmt.Errorf("burst report duration %d ns is out of range", d)
	}
	return BurstResult{Bytes: binary.BigEndian.Uint64(p), Duration: time.Duration(d)}, nil
}

// Rate returns the throughput the report shows in bits per second, or 0 when
// it measured nothing.
func (r BurstResult) Rate() float64 {
	if r.Duration <= 0 || r.Bytes == 0 {
		return 0
	}
	return float64(r.Bytes) * 8 / r.Duration.Seconds()
}
