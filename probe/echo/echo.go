// Package echo implements the echo probe kind: connect to another probe's
// responder, prove both ends hold the mesh key (so the answer cannot come from
// a firewall, proxy or NAT that completed the TCP handshake in the responder's
// place), then measure N round trips on the same connection — application RTT,
// jitter and loss — and, when asked, the path MTU (black-hole detection) and
// the throughput of a bounded burst.
//
// The transport failures are the tcp kind's (refused, timeout, unreachable,
// dns, reset); a far end that is not a linkmesh responder of this mesh is
// mismatch.
package echo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/pmtu"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// Limits on what one attempt does.
const (
	// DefaultRounds is the round trips of an attempt when Options.Rounds is 0.
	DefaultRounds = 10
	// MaxRounds bounds Options.Rounds.
	MaxRounds = 100
	// DefaultBurstTime is the burst's time cap when Options.BurstTime is 0.
	DefaultBurstTime = 5 * time.Second
	// MaxBurstBytes bounds Options.BurstBytes (the responder's own limit).
	MaxBurstBytes = 1 << 30
)

// Options say what one attempt measures besides the hello.
type Options struct {
	// Rounds is the number of round trips (0: DefaultRounds; at most MaxRounds).
	Rounds int
	// MTU runs a path-MTU check.
	MTU bool
	// BurstBytes, when positive, sends a throughput burst of at most that many
	// bytes (at most MaxBurstBytes) ...
	BurstBytes int64
	// BurstTime ... for at most this long (0: DefaultBurstTime).
	BurstTime time.Duration
	// Expect is the name of the probe the plan says answers at the address
	// (the target's name). A responder proving another name — this probe's
	// own included — is mismatch "answered by probe X, expected Y". Empty:
	// any probe of the mesh but this one.
	Expect string
}

// Prober makes echo attempts. The scheduler calls Probe once per attempt; a
// Prober holds no state between attempts and is safe for concurrent use.
type Prober struct {
	// Key is the mesh key; without it every attempt fails with a note saying so.
	Key []byte
	// Accepted are further keys accepted during a key rotation: a responder
	// proving one of them is of this mesh too.
	Accepted [][]byte
	// TCP connects (its resolver and source address are used; Control is
	// replaced when a path-MTU check needs don't-fragment).
	TCP tcp.Prober
	// Name is this probe's name: sent in the hello, and a responder proving
	// it is this probe's own (its advertised address points back here).
	Name string
	// Roots, when set, returns the mesh CA's certificates (the current ones:
	// they are re-read when their file changes). Every responder must then
	// prove its probe name with a certificate they signed, not only with the
	// shared mesh key; a responder without one is mismatch.
	Roots func() *x509.CertPool
	// Silence, when set, makes an acknowledged, silent far end before the
	// hello a middlebox (mismatch) only when it happens on two attempts in a
	// row at the same address: once, it can be the responder's answer lost on
	// the way back, which this side's kernel cannot see (a timeout). Nil:
	// mismatch at once.
	Silence *Silence
}

// Silence remembers, per target address, whether the latest attempt met an
// acknowledged, silent far end (Prober.Silence).
type Silence struct {
	mu   sync.Mutex
	seen map[string]bool
}

// NewSilence returns an empty Silence.
func NewSilence() *Silence { return &Silence{seen: map[string]bool{}} }

// again records a silent far end at address and reports whether the attempt
// before met one too.
func (s *Silence) again(address string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.seen[address]
	s.seen[address] = true
	return before
}

// clear records an attempt at address that met no silent far end.
func (s *Silence) clear(address string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, address)
}

// judgeSilence turns the first acknowledged, silent far end in a row at
// address into a timeout (see Prober.Silence); any other outcome clears the
// record.
func (p *Prober) judgeSilence(address string, err error) error {
	var se *stepError
	if err == nil || !errors.As(err, &se) || !se.silentAcked {
		p.Silence.clear(address)
		return err
	}
	if p.Silence == nil || p.Silence.again(address) {
		return err // twice in a row: a middlebox is the likelier cause
	}
	head, _, _ := strings.Cut(se.detail, ": a firewall or proxy")
	return &stepError{code: attempt.Timeout, err: se.err, detail: head +
		": once, this is most likely the responder's answer lost on the way back, which this side cannot see; if the next attempt meets the same, " +
		"a firewall or proxy answering the TCP handshake in the responder's place is the likelier cause (mismatch)"}
}

// Probe makes one attempt against a responder at address ("host:port") and
// honours ctx's deadline.
func (p *Prober) Probe(ctx context.Context, address string, o Options) attempt.Result {
	if len(p.Key) == 0 {
		return attempt.Result{Code: attempt.Error, Detail: "this probe has no mesh key, so it cannot prove itself to responders: start it with --mesh-key-file"}
	}
	o = o.normalized()
	dialer := p.dialer(o.MTU)
	c, res := dialer.Connect(ctx, address)
	if c == nil {
		return res
	}
	handshake := res // the tcp-level view: SYN retransmits, handshake RTT
	s := newSession(ctx, c.TCPConn)
	defer func() { s.close() }()
	s.handshakeLost = handshake.ExchangesLost > 0

	if err := p.judgeSilence(address, s.hello(p.keys(), p.expectation(address, o.Expect))); err != nil {
		return failed(handshake, "hello", err)
	}
	// Loss: the handshake's exchange, then each round trip (roundLoss.count);
	// the hello's are never counted, lost or not, since the responder's
	// resends in it are not told apart from its SYN-ACK's. One round trip
	// more than asked: reply i carries the responder's count of resent
	// segments before it, so round i's loss is known after round i+1. The
	// last one is left out of the figures.
	loss := newRoundLoss(c.TCPConn)
	rtts := make([]time.Duration, 0, o.Rounds)
	for i := range o.Rounds + 1 {
		rtt, serverRetrans, err := s.round(uint32(i + 1))
		if err != nil {
			n, lost := loss.count(o.Rounds)
			partial := handshake
			partial.Exchanges += n
			partial.ExchangesLost += lost
			if i < o.Rounds { // the extra round trip counts only to close the others
				partial = lostOnTimeout(partial, err)
			}
			return failed(partial, "round trips", err)
		}
		loss.add(c.TCPConn, rtt, serverRetrans)
		if i < o.Rounds {
			rtts = append(rtts, rtt)
		}
	}
	n, lost := loss.count(o.Rounds)
	f := figures(rtts)
	out := attempt.Result{
		Code:           attempt.OK,
		RTT:            f.median,
		RTTSource:      attempt.RTTApplication,
		SYNRetransmits: handshake.SYNRetransmits,
		Jitter:         f.jitter,
		Exchanges:      handshake.Exchanges + n,
		ExchangesLost:  handshake.ExchangesLost + lost,
	}
	if n > 0 {
		out.LossRatio = tcp.PacketLoss(n, lost)
	}
	d := describe{rounds: f, loss: out.LossRatio, lossKnown: n > 0}

	if o.MTU {
		m := p.checkMTU(ctx, s, dialer, c.Remote.String(), f.median)
		if m.err != nil {
			return failed(out, "path-MTU check", m.err) // out: the handshake's and round trips' figures
		}
		out.MTU, out.MTUBlackhole = m.mtu, m.blackhole
		d.mtu = &m
	}
	if o.BurstBytes > 0 {
		b := burstFigures{}
		burstTime := burstBudget(ctx, o.BurstTime, f.median)
		switch {
		case s.dead:
			b.skipped = true
		case burstTime < minBurstTime:
			b.noTime = true
		default:
			res, sent, err := s.burst(o.BurstBytes, burstTime)
			res = clampBurst(res, sent)
			b.sent, b.res, b.err = sent, res, err
			if err == nil {
				out.Throughput = res.Rate()
			}
		}
		d.burst = &b
	}
	d.who = s.who
	out.Detail = d.String()
	clampFigures(&out)
	return out
}

// minBurstTime is the shortest burst worth measuring.
const minBurstTime = 100 * time.Millisecond

// burstBudget is how long the burst may send: its cap, or what is left of the
// attempt less time for the data in flight and the report to arrive.
func burstBudget(ctx context.Context, limit, rtt time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return limit
	}
	return min(limit, time.Until(dl)-max(time.Second, 10*rtt))
}

// expectation is what the hello of an attempt at address must prove.
func (p *Prober) expectation(address, expect string) expectation {
	e := expectation{self: p.Name, expect: expect, address: address}
	if p.Roots != nil {
		e.roots = p.Roots()
	}
	return e
}

// keys lists the mesh key, then the accepted ones.
func (p *Prober) keys() [][]byte {
	return append([][]byte{p.Key}, p.Accepted...)
}

func (o Options) normalized() Options {
	if o.Rounds <= 0 {
		o.Rounds = DefaultRounds
	}
	o.Rounds = min(o.Rounds, MaxRounds)
	o.BurstBytes = min(o.BurstBytes, MaxBurstBytes)
	if o.BurstTime <= 0 {
		o.BurstTime = DefaultBurstTime
	}
	return o
}

// dialer returns the tcp dialer to use: with don't-fragment set when the
// attempt checks the path MTU (where the platform can; TCP sets DF anyway on
// Linux and Windows).
func (p *Prober) dialer(mtu bool) *tcp.Prober {
	d := p.TCP
	if mtu {
		d.Control = func(network, address string, c syscall.RawConn) error {
			if err := pmtu.DontFragment(network, address, c); err != nil && !errors.Is(err, pmtu.ErrUnsupported) {
				return err
			}
			return nil
		}
	}
	return &d
}

// failed turns a step's error into the attempt's result, keeping what the
// handshake measured (and the exchanges counted so far).
func failed(handshake attempt.Result, step string, err error) attempt.Result {
	res := attempt.Result{Code: attempt.Error, SYNRetransmits: handshake.SYNRetransmits, Detail: step + ": " + err.Error(),
		Exchanges: handshake.Exchanges, ExchangesLost: handshake.ExchangesLost}
	var se *stepError
	if errors.As(err, &se) {
		res.Code, res.Detail = se.code, se.detail
	}
	if res.Code == attempt.OK { // a step never fails with ok
		res.Code = attempt.Error
	}
	return res
}

// newSession wraps conn; its deadline follows ctx, and ctx's end closes it.
func newSession(ctx context.Context, conn *net.TCPConn) *session {
	s := &session{conn: conn}
	if dl, ok := ctx.Deadline(); ok {
		s.deadline = dl
		conn.SetDeadline(dl)
	}
	s.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return s
}

// roundFigures summarise the round trips.
type roundFigures struct {
	n                int
	min, median, max time.Duration
	jitter           time.Duration
}

func figures(rtts []time.Duration) roundFigures {
	f := roundFigures{n: len(rtts)}
	if len(rtts) == 0 {
		return f
	}
	var sum time.Duration
	for i := 1; i < len(rtts); i++ {
		sum += (rtts[i] - rtts[i-1]).Abs()
	}
	if len(rtts) > 1 {
		f.jitter = sum / time.Duration(len(rtts)-1)
	}
	sorted := slices.Sorted(slices.Values(rtts))
	f.min, f.max = sorted[0], sorted[len(sorted)-1]
	f.median = sorted[len(sorted)/2]
	return f
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// lostOnTimeout counts the exchange a step was waiting for as lost when the
// step timed out: its packet or the answer did not arrive. Other failures
// (a wrong answer, a reset) say nothing about loss.
func lostOnTimeout(r attempt.Result, err error) attempt.Result {
	var se *stepError
	if errors.As(err, &se) && se.code == attempt.Timeout {
		r.Exchanges++
		r.ExchangesLost++
	}
	return r
}
