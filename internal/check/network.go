package check

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// network holds what the standalone network rows share: the config, and one
// lookup per name so D1, P1 and P2 speak of the same addresses.
type network struct {
	cfg      Config
	mi, node *lookup
}

func newNetwork(cfg Config) *network {
	n := &network{cfg: cfg, mi: newLookup(cfg.MI, cfg.Resolver, cfg.Timeout)}
	n.node = n.mi
	if cfg.MINode != "" && cfg.MINode != cfg.MI {
		n.node = newLookup(cfg.MINode, cfg.Resolver, cfg.Timeout)
	}
	return n
}

// connect makes one tcp attempt to addr with the configured timeout.
func (n *network) connect(ctx context.Context, addr netip.AddrPort) attempt.Result {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	return (&tcp.Prober{}).Probe(ctx, addr.String())
}

// target resolves l and picks the address to dial: the first the link could
// use. skip is set when there is none and D1 already reports why (l is the
// MI's name); fail when l is another name (a node) that has no D row.
func (n *network) target(ctx context.Context, l *lookup) (a netip.Addr, skip, fail *Outcome) {
	addrs, err := l.get(ctx)
	if err != nil {
		if l == n.mi {
			return a, &Outcome{Status: Skip, Reason: fmt.Sprintf("not tested: %s does not resolve (see D1)", l.host)}, nil
		}
		return a, nil, &Outcome{Status: Fail, Result: attempt.DNS.String(), Measured: "no address",
			Reason: fmt.Sprintf("%s does not resolve from this host: %s", l.host, dnsReason(err)),
			Fix:    dnsFix(l.host, fmt.Sprintf("This host cannot resolve the MI node's name %s.", l.host))}
	}
	for _, a := range addrs {
		if dialable(classify(a, n.cfg.MISubnet)) {
			return a, nil, nil
		}
	}
	why := fmt.Sprintf("%s resolves to the public address %s, which cannot be the MI's VNet-local endpoint; linkmesh does not connect to it", l.host, joinAddrs(addrs))
	if l.given() {
		why = fmt.Sprintf("%s is a public address, which cannot be the MI's VNet-local endpoint; linkmesh does not connect to it", l.host)
	}
	if l == n.mi && !l.given() { // D1 reports it
		return a, &Outcome{Status: Skip, Measured: joinAddrs(addrs), Reason: "not tested: " + why + " (see D1)"}, nil
	}
	return a, nil, &Outcome{Status: Fail, Measured: joinAddrs(addrs), Reason: why,
		Fix: dnsFix(l.host, fmt.Sprintf("%s is %s, not a private address in the MI subnet: the link must use the MI's VNet-local endpoint and its nodes' private addresses.", l.host, joinAddrs(addrs)))}
}

// p1 tests TCP 5022 from this host to the MI.
func (n *network) p1(ctx context.Context) Outcome {
	a, skip, fail := n.target(ctx, n.mi)
	if skip != nil || fail != nil {
		return *firstOf(skip, fail)
	}
	dst := netip.AddrPortFrom(a, n.cfg.MIPort)
	res := n.connect(ctx, dst)
	return p1Outcome(res, dst, n.cfg.Timeout, newPaths(n.cfg.MISubnet, a), n.cfg.HADRPorts)
}

// ep tests that something listens on SQL Server's mirroring endpoint here.
func (n *network) ep(ctx context.Context) Outcome {
	host, portText, _ := net.SplitHostPort(n.cfg.SQLEndpoint)
	port, _ := strconv.ParseUint(portText, 10, 16)
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	// A name other than localhost resolves with the system's resolver: it names
	// this host, which --dns-server (the MI side's DNS) need not know.
	res := (&tcp.Prober{}).Probe(ctx, net.JoinHostPort(host, portText))
	return epOutcome(res, n.cfg.SQLEndpoint, uint16(port), n.cfg.Timeout)
}

// p2 tests the MI node's HADR ports: the one given, or a random sample of the
// range. A refusal is the node's own answer (only the current node port
// listens), so it proves the firewalls pass.
func (n *network) p2(ctx context.Context) Outcome {
	a, skip, fail := n.target(ctx, n.node)
	if skip != nil || fail != nil {
		return *firstOf(skip, fail)
	}
	ports := []uint16{n.cfg.MINodePort}
	if n.cfg.MINodePort == 0 {
		ports = samplePorts(n.cfg.HADRPorts, n.cfg.HADRSample)
	}
	results := make([]attempt.Result, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Go(func() { results[i] = n.connect(ctx, netip.AddrPortFrom(a, p)) })
	}
	wg.Wait()
	return p2Outcome(p2Input{
		addr: a, ports: ports, results: results, rng: n.cfg.HADRPorts,
		nodeGiven: n.node != n.mi, timeout: n.cfg.Timeout, paths: newPaths(n.cfg.MISubnet, a),
	})
}

// samplePorts picks k distinct ports of r at random, in ascending order.
func samplePorts(r PortRange, k int) []uint16 {
	perm := rand.Perm(r.Size())
	out := make([]uint16, 0, min(k, len(perm)))
	for _, i := range perm[:cap(out)] {
		out = append(out, r.Lo+uint16(i))
	}
	slices.Sort(out)
	return out
}

func firstOf(a, b *Outcome) *Outcome {
	if a != nil {
		return a
	}
	return b
}

// NodeCheck is the P2-node row: this host reaches exactly the MI node and
// HADR port node reads (from the MI, with --mi-dsn): where the link connects
// now. P2's sampled range stays for after a failover, when both change.
func NodeCheck(cfg Config, node func(ctx context.Context) (host string, port uint16, err error)) Check {
	return Check{ID: "P2-node", What: "SQL Server host → the MI's current node and HADR port (read with --mi-dsn)", Required: true,
		Run: func(ctx context.Context) Outcome {
			host, port, err := node(ctx)
			if err != nil {
				return Outcome{Status: Skip, Reason: "not tested: the MI's node could not be read (see mi.node)"}
			}
			n := newNetwork(cfg)
			l := newLookup(host, cfg.Resolver, cfg.Timeout)
			a, skip, fail := n.target(ctx, l)
			if skip != nil || fail != nil {
				return *firstOf(skip, fail)
			}
			res := n.connect(ctx, netip.AddrPortFrom(a, port))
			o := p2Outcome(p2Input{addr: a, ports: []uint16{port}, results: []attempt.Result{res}, rng: cfg.HADRPorts,
				nodeGiven: true, timeout: cfg.Timeout, paths: newPaths(cfg.MISubnet, a)})
			o.Measured = fmt.Sprintf("%s (%s) %s", host, a, strings.TrimPrefix(o.Measured, a.String()+": "))
			return o
		}}
}
