// Package tcp implements the tcp probe kind: connect to host:port, measure the
// handshake round-trip time, watch a short grace for the far end resetting the
// connection, and close again cleanly, without sending a byte.
//
// It works against any listener, including a production database mirroring
// endpoint, so it behaves like the most polite client possible: one SYN (plus the
// kernel's own retransmissions), the handshake, a short wait, then a FIN.
package tcp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it; tests
// inject one that talks to a loopback DNS server they control.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Prober connects to host:port, measuring the handshake RTT, watches a short
// grace for a reset, and closes cleanly.
// The scheduler calls Probe once per attempt. The zero value is ready to use; a
// Prober holds no state between attempts and is safe for concurrent use.
type Prober struct {
	// SourceAddr, if valid, is the local address to connect from (the port is
	// always chosen by the kernel). It pins the probe to one interface or address
	// on multi-homed hosts. The zero value lets the routing table choose.
	SourceAddr netip.Addr
	// Resolver resolves host names. Nil means net.DefaultResolver.
	Resolver Resolver
	// Control, if set, runs on the socket after it is created and before it
	// connects, like net.Dialer.Control (the echo kind sets don't-fragment).
	Control func(network, address string, c syscall.RawConn) error
}

// Probe makes one attempt against address ("host:port") and honours ctx's deadline.
// It never writes to the connection. Every outcome, including a malformed address,
// is a Result; Probe does not panic on anything the network does. Without a
// deadline on ctx a silently dropped SYN is retried until the OS gives up (about
// two minutes on Linux), so the scheduler always sets one.
//
// After the handshake Probe holds the connection for a short grace (twice the
// handshake RTT plus GraceAllowance, at most GraceMax, never past the deadline)
// and reads: a far end that accepts and then at once resets or closes the
// connection (a proxy or firewall in the path, or an endpoint refusing this
// client) is Reset, not OK. Bytes that arrive (a banner) are not a failure. A
// reset later than the grace is not seen here; the echo kind sees it.
func (p *Prober) Probe(ctx context.Context, address string) attempt.Result {
	c, res := p.Connect(ctx, address)
	if c == nil {
		if res.Code == attempt.Reset {
			return connectReset(res)
		}
		return res
	}
	connected := time.Now()
	grace, cut := graceFor(ctx, res.RTT, connected)
	w := watchAfterAccept(ctx, c.TCPConn, connected, grace)
	res = judgeWatch(res, w, grace, cut, ctx.Err())
	if w.outcome == watchReset || w.outcome == watchFailed {
		// Nothing to be polite to: the far end is gone.
		c.Close()
		return res
	}
	closeErr := closeGracefully(c.TCPConn)
	if closeErr != nil {
		// The path worked; a failed close is worth a note, not a different code.
		res.Detail += fmt.Sprintf("; close: %v", closeErr)
	}
	return res
}

// Connection is an established connection and what its handshake measured.
// The echo kind connects with Connect and then speaks the responder protocol.
type Connection struct {
	*net.TCPConn
	// Remote is the address that was dialed (after resolving a name).
	Remote netip.AddrPort
	// ConnectTime is the monotonic time the connect call took.
	ConnectTime time.Duration
}

// Connect resolves address, connects and measures the handshake, as Probe does,
// but leaves the connection open. On success it returns the connection and the
// ok Result describing the handshake (the caller closes the connection); on
// failure a nil connection and the failed attempt's Result. Control, if set,
// runs on the socket before it connects (e.g. to set don't-fragment).
func (p *Prober) Connect(ctx context.Context, address string) (*Connection, attempt.Result) {
	if err := ctx.Err(); err != nil {
		return nil, failure(fmt.Errorf("attempt not started: %w", err))
	}
	raddr, err := p.resolve(ctx, address)
	if err != nil {
		return nil, failure(err)
	}

	var connectStart time.Time
	d := net.Dialer{
		// Keep-alives are pointless on a connection closed at once, and each one
		// costs a setsockopt.
		KeepAlive: -1,
		// Control runs after socket(2) and just before bind/connect; stamping the
		// start here keeps socket creation out of the connect time.
		ControlContext: func(_ context.Context, network, address string, c syscall.RawConn) error {
			if p.Control != nil {
				if err := p.Control(network, address, c); err != nil {
					return err
				}
			}
			connectStart = time.Now()
			return nil
		},
	}
	if p.SourceAddr.IsValid() {
		// Only when asked: with a local address Go calls bind(2) before connect,
		// and a port taken by bind cannot be shared across destinations the way
		// connect's own port choice can.
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.SourceAddr, 0))
	}
	dialStart := time.Now()
	c, err := d.DialContext(ctx, "tcp", raddr.String())
	end := time.Now()
	if connectStart.IsZero() {
		connectStart = dialStart
	}
	connectTime := end.Sub(connectStart)
	if err != nil {
		res := failure(err)
		countHandshake(&res, connectTime, kernelInfo{})
		if res.Code == attempt.Refused {
			// The reset came back from the far end (or a firewall in front of
			// it): the connect time is a round trip too.
			res.RTT, res.RTTSource = connectTime, attempt.RTTConnect
		}
		return nil, res
	}
	conn, ok := c.(*net.TCPConn)
	if !ok { // cannot happen for "tcp"; keep the socket from leaking if it does
		c.Close()
		return nil, failure(fmt.Errorf("dial %s: unexpected connection type %T", raddr, c))
	}

	info, infoErr := handshakeInfo(conn)
	res := attempt.Result{Code: attempt.OK, SYNRetransmits: info.synRetransmits}
	countHandshake(&res, connectTime, info)
	res.RTT, res.RTTSource = chooseRTT(connectTime, info)
	res.Detail = okDetail(raddr, address, connectTime, info, res.RTTSource)
	if infoErr != nil {
		res.Detail += fmt.Sprintf("; no kernel rtt: %v", infoErr)
	}
	return &Connection{TCPConn: conn, Remote: raddr, ConnectTime: connectTime}, res
}

// resolve turns "host:port" into one address to dial. A literal IP is used as is; a
// name is resolved with ctx, so a lookup failure or timeout is a DNS result. When a
// name has several addresses, the first (the resolver's preferred order) of the same
// family as SourceAddr is dialed: one attempt tests one path.
func (p *Prober) resolve(ctx context.Context, address string) (netip.AddrPort, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("target %q: port must be a number from 0 to 65535: %w", address, err)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}

	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	network := "ip"
	switch {
	case p.SourceAddr.Is4() || p.SourceAddr.Is4In6():
		network = "ip4"
	case p.SourceAddr.Is6():
		network = "ip6"
	}
	ips, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		// A resolver that returns neither addresses nor an error still did not
		// resolve the name.
		e := &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		if f, ok := r.(interface{ Server() netip.AddrPort }); ok {
			e.Server = f.Server().String() // a --dns-server: name it, as its other errors do
		}
		return netip.AddrPort{}, e
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// failure builds the Result for a failed attempt. The error text is short already:
// the net package's *net.OpError reads "dial tcp 10.0.0.5:5022: connect: connection
// refused", a *net.DNSError "lookup sqlmi.example on 10.0.0.2:53: no such host".
func failure(err error) attempt.Result {
	return attempt.Result{Code: attempt.Classify(err), Detail: err.Error()}
}
