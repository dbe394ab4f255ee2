package responder

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/probe/responder/wire"
	"github.com/linkmesh/linkmesh/probe/tcpinfo"
)

// bufPool holds the per-connection buffers used after the hello, so memory is
// bounded by the authenticated connections, not by every connection.
var bufPool = sync.Pool{New: func() any { return new([wire.MaxPayload]byte) }}

// errAmplify guards the no-amplification rule; the protocol's sizes make it
// unreachable, and a test checks that.
var errAmplify = errors.New("reply would exceed the bytes received")

// meter counts the bytes read from and written to a connection.
type meter struct {
	net.Conn
	in, out int64
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	m.in += int64(n)
	return n, err
}

// conn is the handler's state for one connection.
type conn struct {
	r       *Responder
	s       *session
	m       *meter
	tcp     *net.TCPConn // nil when not TCP (tests over net.Pipe)
	started time.Time
	wbuf    []byte
	frames  int

	// The hello: the client's name (for the log), both payloads as sent
	// (the certificate proof signs them), the certificate of this hello.
	client      string
	clientHello []byte
	serverHello []byte
	id          *identity
	proved      bool // the certificate proof was sent (once per connection)

	// The current burst.
	burstTotal    int64
	burstMeasured uint64
	burstFirst    time.Time
	burstLast     time.Time
}

// closeReason is why a connection ended, for the debug log and the counters.
type closeReason struct {
	what string
	err  error
	kind int // 0 normal, 1 protocol error, 2 auth failure
}

func (r *Responder) handle(s *session) {
	c := &conn{r: r, s: s, m: &meter{Conn: s.conn}, started: time.Now()}
	c.tcp, _ = s.conn.(*net.TCPConn)
	reason := c.run()
	s.conn.Close()
	r.stats.in.Add(uint64(c.m.in))
	r.stats.out.Add(uint64(c.m.out))
	switch reason.kind {
	case 1:
		r.stats.protoErrs.Add(1)
	case 2:
		r.stats.authFails.Add(1)
	}
	if r.logger.Enabled(context.Background(), slog.LevelDebug) {
		r.logger.Debug("responder connection ended", "remote", s.conn.RemoteAddr().String(),
			"client", c.client, "reason", reason.what, "error", reason.err, "bytes_in", c.m.in, "bytes_out", c.m.out, "frames", c.frames)
	}
}

func (c *conn) run() closeReason {
	cfg := c.r.cfg
	// The whole hello must finish by this deadline, however the bytes trickle.
	if err := c.m.SetDeadline(c.started.Add(cfg.HandshakeTimeout)); err != nil {
		return closeReason{what: "set deadline", err: err}
	}
	var small [wire.MaxHandshakePayload]byte
	h, p, reason, ok := c.read(small[:])
	if !ok {
		return reason
	}
	if h.Type != wire.Hello {
		return c.refuse(wire.CodeProtocol, "expected hello, got "+h.Type.String(), 1)
	}
	if len(cfg.Key) == 0 {
		return c.refuse(wire.CodeNoKey, "this responder has no mesh key (start the probe with --mesh-key-file)", 0)
	}
	hello, err := wire.ParseClientHello(p)
	if err != nil {
		return c.refuse(wire.CodeProtocol, err.Error(), 1)
	}
	c.client = hello.Name
	c.clientHello = append([]byte(nil), p...)
	c.id = c.r.identity()
	sh := wire.ServerHello{Name: cfg.Name, ProofSize: c.id.proofSize()}
	_, _ = rand.Read(sh.Nonce[:])
	c.serverHello = sh.Marshal(cfg.Key, c.clientHello)
	if err := c.send(wire.HelloReply, c.serverHello); err != nil {
		return closeReason{what: "write hello reply", err: err}
	}
	h, p, reason, ok = c.read(small[:])
	if !ok {
		return reason
	}
	if h.Type != wire.Auth {
		return c.refuse(wire.CodeProtocol, "expected auth, got "+h.Type.String(), 1)
	}
	if !validProof(p, append([][]byte{cfg.Key}, cfg.Accepted...), c.clientHello, c.serverHello) {
		return c.refuse(wire.CodeAuth, "wrong proof: the client holds another mesh key", 2)
	}
	if !c.r.reg.authenticate(c.s, cfg.MaxAuthenticated) {
		return c.refuse(wire.CodeBusy, fmt.Sprintf("responder busy: %d measuring connections already", cfg.MaxAuthenticated), 0)
	}
	c.r.stats.authenticated.Add(1)
	if err := c.send(wire.AuthOK, nil); err != nil {
		return closeReason{what: "write auth ok", err: err}
	}
	buf := bufPool.Get().(*[wire.MaxPayload]byte)
	defer bufPool.Put(buf)
	return c.serve(buf[:])
}

// serve answers frames after the hello until the client closes or breaks a rule.
func (c *conn) serve(buf []byte) closeReason {
	cfg := c.r.cfg
	end := c.started.Add(cfg.MaxLifetime)
	for {
		if c.frames >= cfg.MaxFrames {
			return c.refuse(wire.CodeLimit, "too many frames on one connection", 1)
		}
		deadline := time.Now().Add(cfg.FrameTimeout)
		if deadline.After(end) {
			deadline = end
		}
		if err := c.m.SetDeadline(deadline); err != nil {
			return closeReason{what: "set deadline", err: err}
		}
		h, p, reason, ok := c.read(buf)
		if !ok {
			return reason
		}
		switch h.Type {
		case wire.Echo:
			binary.BigEndian.PutUint32(p[4:8], c.retransmits())
			if err := c.send(wire.EchoReply, p); err != nil {
				return closeReason{what: "write echo reply", err: err}
			}
		case wire.MTU:
			var ack [4]byte
			binary.BigEndian.PutUint32(ack[:], uint32(len(p)))
			if err := c.send(wire.MTUAck, ack[:]); err != nil {
				return closeReason{what: "write mtu ack", err: err}
			}
		case wire.BurstData:
			now := time.Now()
			c.burstTotal += int64(len(p))
			if c.burstTotal > cfg.MaxBurstBytes {
				return c.refuse(wire.CodeLimit, "burst larger than "+strconv.FormatInt(cfg.MaxBurstBytes, 10)+" bytes", 1)
			}
			if c.burstFirst.IsZero() {
				c.burstFirst = now
			} else {
				c.burstMeasured += uint64(len(p))
			}
			c.burstLast = now
		case wire.ProofRequest:
			if reason, ok := c.proof(p); !ok {
				return reason
			}
		case wire.BurstEnd:
			res := wire.BurstResult{Bytes: c.burstMeasured, Duration: c.burstLast.Sub(c.burstFirst)}
			c.burstMeasured, c.burstFirst, c.burstLast = 0, time.Time{}, time.Time{}
			if err := c.send(wire.BurstReport, wire.AppendBurstReport(nil, res)); err != nil {
				return closeReason{what: "write burst report", err: err}
			}
		default:
			return c.refuse(wire.CodeProtocol, "unexpected "+h.Type.String()+" frame", 1)
		}
	}
}

// validProof reports whether the client proved one of keys over the hello.
func validProof(p []byte, keys [][]byte, clientHello, serverHello []byte) bool {
	for _, k := range keys {
		if len(k) > 0 && hmac.Equal(p, wire.ClientProof(k, clientHello, serverHello)) {
			return true
		}
	}
	return false
}

// read reads one frame into buf. When it fails it returns why the connection
// ends, answering a frame of another protocol version when it can.
func (c *conn) read(buf []byte) (wire.Header, []byte, closeReason, bool) {
	var raw [wire.HeaderSize]byte
	if _, err := io.ReadFull(c.m, raw[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return wire.Header{}, nil, closeReason{what: "closed by client"}, false
		}
		return wire.Header{}, nil, closeReason{what: "read header", err: err, kind: 1}, false
	}
	h, err := wire.ParseHeader(raw)
	var verr *wire.VersionError
	if errors.As(err, &verr) {
		// Read a little of the payload the client promised, so an answer
		// naming our version stays within what it sent.
		n := min(int64(binary.BigEndian.Uint32(raw[4:])), 64)
		_, _ = io.CopyN(io.Discard, c.m, n)
		return h, nil, c.refuse(wire.CodeVersion, strconv.Itoa(wire.Version), 1), false
	}
	if err != nil {
		return h, nil, closeReason{what: "bad frame", err: err, kind: 1}, false
	}
	p, err := wire.ReadPayload(c.m, h, buf)
	if err != nil {
		return h, nil, closeReason{what: "read " + h.Type.String() + " payload", err: err, kind: 1}, false
	}
	c.frames++
	return h, p, closeReason{}, true
}

// send writes one frame, never more than the client has sent so far in total.
func (c *conn) send(t wire.Type, p []byte) error {
	b, err := wire.AppendFrame(c.wbuf[:0], t, p)
	if err != nil {
		return err
	}
	c.wbuf = b
	if c.m.out+int64(len(b)) > c.m.in {
		return errAmplify
	}
	if err := c.m.SetWriteDeadline(time.Now().Add(c.r.cfg.FrameTimeout)); err != nil {
		return err
	}
	n, err := c.m.Conn.Write(b)
	c.m.out += int64(n)
	return err
}

// refuse sends an Error frame when that stays within the bytes received,
// and returns the reason the connection ends.
func (c *conn) refuse(code wire.ErrorCode, msg string, kind int) closeReason {
	p := wire.ErrorPayload(code, msg)
	if room := c.m.in - c.m.out - wire.HeaderSize - 1; int64(len(p)-1) > room {
		p = p[:1+max(room, 0)] // cut the message, keep the code
	}
	err := c.send(wire.Error, p)
	return closeReason{what: "refused: " + code.String() + ": " + msg, err: err, kind: kind}
}

// retransmits is this side's count of resent segments, for the echo client's
// loss figure (0 when the platform cannot tell).
func (c *conn) retransmits() uint32 {
	if c.tcp == nil {
		return 0
	}
	info, err := tcpinfo.Get(c.tcp)
	if err != nil {
		return 0
	}
	return info.Retransmits
}
