package probe

import (
	"context"
	"crypto/x509"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/dns"
	"github.com/linkmesh/linkmesh/probe/echo"
	"github.com/linkmesh/linkmesh/probe/sched"
	"github.com/linkmesh/linkmesh/probe/tcp"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// probers returns the scheduler's Prober for every kind this probe runs.
// The echo kind proves which probe answered: e (this probe's name, and the
// mesh CA when it has one).
func probers(key []byte, accepted [][]byte, dnsServer netip.AddrPort, e echoIdentity) map[linkmeshv1.Kind]sched.Prober {
	// One resolver for every kind: a --dns-server answers for the names of
	// tcp and echo targets too (a check round's P3 to the SQL Server host's
	// name), not only for dns targets.
	d := &dns.Prober{}
	t := tcp.Prober{}
	if dnsServer.IsValid() {
		r := dns.ServerResolver(dnsServer)
		d.Resolver, t.Resolver = r, r
	}
	return map[linkmeshv1.Kind]sched.Prober{
		linkmeshv1.Kind_KIND_TCP:  tcpKind{&t},
		linkmeshv1.Kind_KIND_ECHO: echoKind{&echo.Prober{Key: key, Accepted: accepted, TCP: t, Name: e.name, Roots: e.roots, Silence: echo.NewSilence()}, newBurstGate()},
		linkmeshv1.Kind_KIND_DNS:  dnsKind{d},
	}
}

func hostPort(t *linkmeshv1.Target) string {
	return net.JoinHostPort(t.GetHost(), strconv.Itoa(int(t.GetPort())))
}

// echoIdentity is what the echo kind proves the far end's identity with.
type echoIdentity struct {
	name  string
	roots func() *x509.CertPool // nil: no mesh CA, the key-bound name only
}

// tcpKind adapts the tcp kind to the scheduler's Prober.
type tcpKind struct{ p *tcp.Prober }

func (k tcpKind) Probe(ctx context.Context, t *linkmeshv1.Target, _ uint64) attempt.Result {
	return k.p.Probe(ctx, hostPort(t))
}

// echoKind adapts the echo kind: the path-MTU check runs on the first attempt
// and then every mtu_every attempts, the burst every burst_every — one burst
// of the probe's planned targets at a time (bursts).
type echoKind struct {
	p      *echo.Prober
	bursts *burstGate
}

func (k echoKind) Probe(ctx context.Context, t *linkmeshv1.Target, n uint64) attempt.Result {
	o := t.GetEcho()
	// The target's name is the probe that must answer: the probe a site
	// rule selected, the probe serving a stand-in (check round P3, echo
	// rules to a port of a probe's host), or a static target's to.name.
	opts := echo.Options{Rounds: int(o.GetRounds()), Expect: t.GetName()}
	if every := uint64(o.GetMtuEvery()); every > 0 && n%every == 0 {
		opts.MTU = true
	}
	if b := o.GetBurstBytes(); b > 0 {
		due := n%max(uint64(o.GetBurstEvery()), 1) == 0
		// A planned target's burst waits for any other burst of this probe
		// to end: two at once would share the link and each read half. A
		// check round's burst always runs (the round waits for it, within
		// its attempt's time); it holds the gate when it is free, so no
		// planned burst starts beside it.
		burst := due && t.GetAttempts() > 0
		if burst && k.bursts.hold() {
			defer k.bursts.release()
		}
		if t.GetAttempts() == 0 && k.bursts.claim(t.GetId(), due) {
			defer k.bursts.release()
			burst = true
		}
		if burst {
			opts.BurstBytes = int64(min(b, echo.MaxBurstBytes))
			if d := o.GetBurstMaxTime(); d != nil && d.CheckValid() == nil {
				opts.BurstTime = min(d.AsDuration(), time.Minute)
			}
		}
	}
	return k.p.Probe(ctx, hostPort(t), opts)
}

// burstGate lets one planned throughput burst of a probe run at a time. A
// burst that falls due while another runs is owed, and runs at the target's
// next attempt that finds the gate free.
type burstGate struct {
	mu   sync.Mutex
	busy bool
	owed map[string]bool // target ids
}

func newBurstGate() *burstGate { return &burstGate{owed: map[string]bool{}} }

// claim reports whether target id may burst now: its burst is due (or owed)
// and no other burst runs. A due burst that cannot run is owed. The caller
// releases a successful claim.
func (g *burstGate) claim(id string, due bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !due && !g.owed[id] {
		return false
	}
	if g.busy {
		g.owed[id] = true
		return false
	}
	g.busy = true
	delete(g.owed, id)
	return true
}

// hold takes the gate for a burst that runs whether or not it gets it (a
// check round's), if no other burst runs: planned bursts that fall due
// meanwhile are owed. The caller releases a successful hold.
func (g *burstGate) hold() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy {
		return false
	}
	g.busy = true
	return true
}

// release ends the running burst.
func (g *burstGate) release() {
	g.mu.Lock()
	g.busy = false
	g.mu.Unlock()
}

// dnsKind adapts the dns kind: the target's host is the name.
type dnsKind struct{ p *dns.Prober }

func (k dnsKind) Probe(ctx context.Context, t *linkmeshv1.Target, _ uint64) attempt.Result {
	var expect []netip.Prefix
	for _, c := range t.GetDns().GetExpectCidrs() {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return attempt.Result{Code: attempt.Error, Detail: "the plan's expected CIDR " + strconv.Quote(c) + " is not valid: " + err.Error()}
		}
		expect = append(expect, p.Masked())
	}
	return k.p.Probe(ctx, t.GetHost(), expect)
}
