package echo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// echoPayload is the size of a round trip's payload: small, like the
// mirroring protocol's keep-alives, and far below any MTU.
const echoPayload = 64

// session is the client side of the responder protocol on one connection.
type session struct {
	conn     *net.TCPConn
	deadline time.Time   // the attempt's deadline (zero: none)
	stop     func() bool // undoes the context.AfterFunc of newSession
	authed   bool        // the hello succeeded: the far end is a responder of this mesh
	dead     bool        // a test packet is stuck in the connection: abort, do not reuse
	buf      [4688]byte  // every reply fits: the largest is a certificate proof (wire.MaxProof)
	wbuf     []byte

	who string      // what the hello proved of the far end, for the detail
	exp expectation // what the hello checked, for the MTU check's connections

	// handshakeLost: the TCP handshake lost a packet (evidence of a lossy path).
	handshakeLost bool
}

// stepError is a failed protocol step, already classified: Code and a detail
// written for the person reading the result.
type stepError struct {
	code   attempt.Code
	detail string
	err    error
	// silentAcked: before the hello completed, the far end acknowledged every
	// byte, no packet was lost from this side, and no answer came (noAnswer).
	silentAcked bool
}

func (e *stepError) Error() string { return e.detail }
func (e *stepError) Unwrap() error { return e.err }

// close ends the session: a clean close (FIN), or an abort (RST) when a lost
// test packet is still queued, so the kernel does not keep resending it.
func (s *session) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.dead {
		_ = s.conn.SetLinger(0)
	}
	_ = s.conn.Close()
}

// within sets the connection's deadline to d from now, or the attempt's
// deadline if that comes first; restore puts the attempt's back.
func (s *session) within(d time.Duration) error {
	dl := time.Now().Add(d)
	if !s.deadline.IsZero() && s.deadline.Before(dl) {
		dl = s.deadline
	}
	return s.conn.SetDeadline(dl)
}

func (s *session) restore() error { return s.conn.SetDeadline(s.deadline) }

func (s *session) write(t wire.Type, p []byte) error {
	b, err := wire.AppendFrame(s.wbuf[:0], t, p)
	if err != nil {
		return err
	}
	s.wbuf = b
	_, err = s.conn.Write(b)
	return err
}

// hello checks that the responder holds one of keys (the mesh key, then keys
// accepted during a rotation) and is the probe e expects — by the name bound
// into its mesh-key proof, and, when e has the mesh CA, by its certificate —
// and proves to it that this probe holds the same key. Every way it can fail
// is a *stepError: mismatch when the far end is not a linkmesh responder of
// this mesh or not the expected probe, the transport's own code (reset,
// timeout …) otherwise. On success s.who says what was proven.
func (s *session) hello(keys [][]byte, e expectation) error {
	s.exp = e
	client := wire.NewClientHello(e.self).Marshal()
	if err := s.write(wire.Hello, client); err != nil {
		return transport("sending the hello", err)
	}
	p, err := s.expect(wire.HelloReply, "the hello")
	if err != nil {
		return err
	}
	server := append([]byte(nil), p...)
	var key []byte
	for _, k := range keys {
		if wire.VerifyServerHello(k, client, server) {
			key = k // prove ourselves with the key the responder used
			break
		}
	}
	if key == nil {
		return &stepError{code: attempt.Mismatch, detail: "a linkmesh responder answered, but it holds another mesh key: give both probes the same --mesh-key-file"}
	}
	sh, err := wire.ParseServerHello(server)
	if err != nil {
		return &stepError{code: attempt.Mismatch, err: err, detail: "a linkmesh responder of this mesh answered with a malformed hello: " + err.Error()}
	}
	if err := e.checkName(sh.Name, ""); err != nil {
		return err
	}
	if e.roots != nil && sh.ProofSize == 0 {
		return mismatch("the responder at %s says it is probe %s and holds the mesh key, but has no certificate from the mesh CA to prove it (this probe checks certificates: it runs with --tls-ca): start %s with --tls-cert and --tls-key from this mesh's CA", e.address, sh.Name, sh.Name)
	}
	if err := s.write(wire.Auth, wire.ClientProof(key, client, server)); err != nil {
		return transport("sending the hello proof", err)
	}
	if _, err = s.expect(wire.AuthOK, "the hello proof"); err != nil {
		return err
	}
	s.authed = true
	s.who = "responder " + sh.Name + " proved the mesh key"
	if sh.Name == "" {
		s.who = "responder proved the mesh key"
	}
	if e.roots == nil {
		return nil
	}
	// The padding makes the request as long as the proof: the responder
	// never sends more than it received.
	if err := s.write(wire.ProofRequest, make([]byte, sh.ProofSize)); err != nil {
		return transport("asking for the certificate proof", err)
	}
	if p, err = s.expect(wire.Proof, "the certificate proof request"); err != nil {
		return err
	}
	if _, err := e.verifyProof(p, client, server, sh.Name); err != nil {
		return err
	}
	s.who = "responder " + sh.Name + " proved the mesh key and its certificate"
	return nil
}

// expect reads one frame and returns its payload if it is of type want.
func (s *session) expect(want wire.Type, during string) ([]byte, error) {
	var raw [wire.HeaderSize]byte
	n, err := io.ReadFull(s.conn, raw[:])
	if err != nil && s.authed {
		if errors.Is(err, io.EOF) {
			return nil, &stepError{code: attempt.Reset, err: err, detail: "the responder closed the connection while waiting for the answer to " + during}
		}
		if isTimeout(err) {
			return nil, noAnswer(during, true, s.readEvidence(), err)
		}
		return nil, transport("waiting for the answer to "+during, err)
	}
	if err != nil {
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if n > 0 {
				return nil, notLinkmesh(raw[:n], during)
			}
			if se := closedAfterLoss(during, "closed", s.readEvidence(), err); se != nil {
				return nil, se
			}
			return nil, &stepError{code: attempt.Mismatch, err: err, detail: fmt.Sprintf(
				"the connection was accepted, then closed without an answer to %s: not a linkmesh responder (a firewall, proxy or NAT answering in its place, or another service on the port)", during)}
		case isTimeout(err):
			// Loss, or a middlebox: the kernel's view of the connection decides.
			return nil, noAnswer(during, false, s.readEvidence(), err)
		}
		if attempt.Classify(err) == attempt.Reset {
			if se := closedAfterLoss(during, "reset", s.readEvidence(), err); se != nil {
				return nil, se
			}
			return nil, &stepError{code: attempt.Mismatch, err: err, detail: fmt.Sprintf(
				"the connection was accepted, then reset when %s was sent: not a linkmesh responder (a firewall or proxy answering in its place, or another service on the port)", during)}
		}
		return nil, transport("waiting for the answer to "+during, err)
	}
	h, err := wire.ParseHeader(raw)
	if err != nil {
		var verr *wire.VersionError
		if errors.As(err, &verr) {
			return nil, &stepError{code: attempt.Mismatch, err: err, detail: fmt.Sprintf(
				"the linkmesh responder speaks protocol version %d, this probe %d: run the same linkmesh version on both probes", verr.Got, wire.Version)}
		}
		return nil, notLinkmesh(raw[:], during)
	}
	p, err := wire.ReadPayload(s.conn, h, s.buf[:])
	if err != nil {
		return nil, transport("reading the answer to "+during, err)
	}
	if h.Type == wire.Error {
		return nil, remoteError(wire.ParseError(p))
	}
	if h.Type != want {
		return nil, &stepError{code: attempt.Mismatch, detail: fmt.Sprintf("the responder answered %s with a %s frame, not %s", during, h.Type, want)}
	}
	return p, nil
}

// notLinkmesh describes an answer in another protocol, quoting its first bytes.
func notLinkmesh(first []byte, during string) error {
	return &stepError{code: attempt.Mismatch, err: wire.ErrNotLinkmesh, detail: fmt.Sprintf(
		"something answered %s that is not a linkmesh responder (first bytes %s): a firewall, proxy or NAT in its place, or another service on the port", during, quote(first))}
}

func remoteError(e *wire.RemoteError) error {
	switch e.Code {
	case wire.CodeAuth:
		return &stepError{code: attempt.Mismatch, err: e, detail: "the responder refused this probe's mesh key: give both probes the same --mesh-key-file"}
	case wire.CodeNoKey:
		return &stepError{code: attempt.Mismatch, err: e, detail: "the responder has no mesh key, so it cannot prove who it is: start that probe with --mesh-key-file"}
	case wire.CodeNoCert:
		return &stepError{code: attempt.Mismatch, err: e, detail: "the responder cannot prove which probe it is with a certificate from the mesh CA: " + e.Message}
	case wire.CodeVersion:
		return &stepError{code: attempt.Mismatch, err: e, detail: "the responder speaks protocol version " + e.Message + " only: run the same linkmesh version on both probes"}
	case wire.CodeBusy:
		return &stepError{code: attempt.Error, err: e, detail: "the responder is at its limit of measuring connections; " + e.Message}
	}
	return &stepError{code: attempt.Error, err: e, detail: e.Error()}
}

// transport classifies a network error as the tcp kind would (reset, timeout …).
func transport(during string, err error) error {
	return &stepError{code: attempt.Classify(err), err: err, detail: during + ": " + err.Error()}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// quote shows bytes as text when they are printable ASCII, else as hex.
func quote(b []byte) string {
	for _, c := range b {
		if c < 0x20 && c != '\r' && c != '\n' || c > 0x7e {
			return fmt.Sprintf("%x", b)
		}
	}
	return strconv.Quote(strings.TrimSpace(string(b)))
}

// round makes one echo round trip and returns its time and the responder's
// count of retransmitted segments.
func (s *session) round(seq uint32) (time.Duration, uint32, error) {
	var p [echoPayload]byte
	binary.BigEndian.PutUint32(p[:4], seq)
	start := time.Now()
	if err := s.write(wire.Echo, p[:]); err != nil {
		return 0, 0, transport("sending round trip "+strconv.Itoa(int(seq)), err)
	}
	r, err := s.expect(wire.EchoReply, "round trip "+strconv.Itoa(int(seq)))
	rtt := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if len(r) != echoPayload || binary.BigEndian.Uint32(r[:4]) != seq {
		return 0, 0, &stepError{code: attempt.Mismatch, detail: "the responder's echo did not match what was sent"}
	}
	return rtt, binary.BigEndian.Uint32(r[4:8]), nil
}

// mtuFrame sends one MTU test frame with a payload of n bytes and waits up to
// wait for its acknowledgement. A missing acknowledgement is (false, nil);
// anything else going wrong is an error.
func (s *session) mtuFrame(n int, wait time.Duration) (bool, error) {
	if err := s.within(wait); err != nil {
		return false, err
	}
	defer s.restore()
	if err := s.write(wire.MTU, make([]byte, n)); err != nil {
		if isTimeout(err) {
			s.dead = true
			return false, nil
		}
		return false, transport("sending a path-MTU test packet", err)
	}
	p, err := s.expect(wire.MTUAck, "a path-MTU test packet")
	if err != nil {
		var se *stepError
		if errors.As(err, &se) && isTimeout(se.err) {
			s.dead = true
			return false, nil
		}
		return false, err
	}
	if got := binary.BigEndian.Uint32(p); int(got) != n {
		return false, &stepError{code: attempt.Mismatch, detail: fmt.Sprintf("the responder acknowledged %d bytes of a %d-byte test", got, n)}
	}
	return true, nil
}

// burst sends up to maxBytes for at most maxTime and returns what the
// responder measured of it.
func (s *session) burst(maxBytes int64, maxTime time.Duration) (wire.BurstResult, int64, error) {
	chunk := make([]byte, wire.MaxBurstChunk)
	var sent int64
	start := time.Now()
	for sent < maxBytes && time.Since(start) < maxTime {
		n := min(int64(len(chunk)), maxBytes-sent)
		if err := s.write(wire.BurstData, chunk[:n]); err != nil {
			return wire.BurstResult{}, sent, transport("sending the throughput burst", err)
		}
		sent += n
	}
	if err := s.write(wire.BurstEnd, make([]byte, 16)); err != nil {
		return wire.BurstResult{}, sent, transport("ending the throughput burst", err)
	}
	p, err := s.expect(wire.BurstReport, "the end of the throughput burst")
	if err != nil {
		return wire.BurstResult{}, sent, err
	}
	res, err := wire.ParseBurstReport(p)
	if err != nil {
		return wire.BurstResult{}, sent, &stepError{code: attempt.Mismatch, err: err, detail: "the responder's burst report is malformed: " + err.Error()}
	}
	return res, sent, nil
}
