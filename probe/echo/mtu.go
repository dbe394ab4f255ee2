package echo

import (
	"context"
	"fmt"
	"time"

	"github.com/linkmesh/linkmesh/probe/pmtu"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
	"github.com/linkmesh/linkmesh/probe/tcp"
	"github.com/linkmesh/linkmesh/probe/tcpinfo"
)

// mtuFigures is what a path-MTU check found.
type mtuFigures struct {
	// mtu is the largest packet that crossed (0: the check could not tell).
	mtu       int
	blackhole bool
	// full is the packet size the check started from: what the sending
	// host's route allows (at most pmtu.Max).
	full  int
	exact bool
	tests int
	// icmp: the kernel lowered the path MTU from an ICMP "fragmentation
	// needed", so TCP adapts and there is no black hole.
	icmp bool
	note string
	err  error // a failure that ends the attempt
}

// checkMTU sends one full-size packet on the session's connection. When it
// crosses, the path carries full-size packets (or ICMP told the kernel a
// smaller MTU, which TCP then uses). When it does not, while the small round
// trips did, the check confirms the loss on a new connection and then finds
// the largest size that crosses by bisection, one new connection per size.
func (p *Prober) checkMTU(ctx context.Context, s *session, dialer *tcp.Prober, remote string, median time.Duration) mtuFigures {
	info, err := tcpinfo.Get(s.conn)
	if err != nil || info.MSS <= 0 {
		return mtuFigures{note: fmt.Sprintf("path MTU not checked: the segment size is unknown on this platform (%v)", err)}
	}
	overhead := tcpinfo.Overhead(s.conn, info.Timestamps)
	full := min(info.MSS+overhead, pmtu.Max)
	small := overhead + wire.HeaderSize + echoPayload // the round trips' packets crossed
	payload := func(size int) int { return size - overhead - wire.HeaderSize }
	wait := min(max(4*median+250*time.Millisecond, 300*time.Millisecond), 2*time.Second)
	m := mtuFigures{full: full, exact: true, tests: 1}
	if full <= small {
		m.mtu = full
		return m
	}

	ok, err := s.mtuFrame(payload(full), wait)
	if err != nil {
		m.err = err
		return m
	}
	if ok {
		m.mtu = full
		if after, err := tcpinfo.Get(s.conn); err == nil && after.PathMTU > 0 && after.PathMTU < full {
			m.mtu, m.icmp = after.PathMTU, true
		}
		return m
	}

	// The full-size packet is lost. One loss can be chance: try again on a
	// new connection before calling it a black hole.
	test := func(ctx context.Context, size int) (bool, error) {
		return p.testOnNewConnection(ctx, dialer, remote, payload(size), wait, s.exp)
	}
	m.tests++
	ok, err = test(ctx, full)
	if err != nil {
		m.mtu, m.exact = 0, false
		m.note = "a full-size packet was lost, and the check could not go on: " + err.Error()
		return m
	}
	if ok {
		m.mtu = full
		m.note = "one full-size packet was lost and the retry crossed (random loss, not a black hole)"
		return m
	}
	out := pmtu.Search(ctx, small, full, test)
	m.mtu, m.blackhole, m.exact = out.Largest, true, out.Exact
	m.tests += out.Tests
	if out.Err != nil {
		m.note = "the search stopped early: " + out.Err.Error()
	}
	return m
}

// testOnNewConnection connects, says hello and sends one MTU test frame with
// n payload bytes, reporting whether it was acknowledged within wait. The
// hello checks the responder's name as the attempt's first one did (e), by
// the mesh key only: the certificate was checked on the first connection to
// the same address.
func (p *Prober) testOnNewConnection(ctx context.Context, dialer *tcp.Prober, remote string, n int, wait time.Duration, e expectation) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*wait)
	c, res := dialer.Connect(cctx, remote)
	cancel()
	if c == nil {
		return false, fmt.Errorf("new connection for the test: %s", res.Detail)
	}
	s := newSession(ctx, c.TCPConn)
	defer s.close()
	if err := s.within(2 * wait); err != nil {
		return false, err
	}
	e.roots = nil
	if err := s.hello(p.keys(), e); err != nil {
		return false, fmt.Errorf("hello for the test: %w", err)
	}
	if err := s.restore(); err != nil {
		return false, err
	}
	return s.mtuFrame(n, wait)
}
