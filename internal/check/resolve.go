package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/probe/dns"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// lookup resolves one host name once and shares the answer between the rows that
// need it (D1 judges it, P1 and P2 dial it), so every row speaks of the same
// addresses. Its methods are safe for concurrent use.
type lookup struct {
	host     string
	resolver tcp.Resolver
	timeout  time.Duration

	once  sync.Once
	addrs []netip.Addr
	err   error
	took  time.Duration
}

func newLookup(host string, r tcp.Resolver, timeout time.Duration) *lookup {
	if r == nil {
		r = net.DefaultResolver
	}
	return &lookup{host: host, resolver: r, timeout: timeout}
}

// given reports whether the host is an address, not a name.
func (l *lookup) given() bool {
	_, err := netip.ParseAddr(l.host)
	return err == nil
}

// get returns the host's addresses (IPv4 first, then IPv6), looking them up on
// the first call; later calls wait for and share that answer.
func (l *lookup) get(ctx context.Context) ([]netip.Addr, error) {
	l.once.Do(func() {
		if a, err := netip.ParseAddr(l.host); err == nil {
			l.addrs = []netip.Addr{a.Unmap()}
			return
		}
		ctx, cancel := context.WithTimeout(ctx, l.timeout)
		defer cancel()
		start := time.Now()
		addrs, err := l.resolver.LookupNetIP(ctx, "ip", l.host)
		l.took = time.Since(start)
		if err == nil && len(addrs) == 0 {
			err = &net.DNSError{Err: "no addresses", Name: l.host, IsNotFound: true}
		}
		if err != nil {
			l.err = fmt.Errorf("resolve %s: %w", l.host, err)
			return
		}
		for _, a := range addrs {
			if a = a.Unmap(); a.Is4() {
				l.addrs = append(l.addrs, a)
			}
		}
		for _, a := range addrs {
			if a = a.Unmap(); !a.Is4() {
				l.addrs = append(l.addrs, a)
			}
		}
	})
	return l.addrs, l.err
}

// addrClass says what kind of address the MI's name resolved to.
type addrClass int

const (
	// inSubnet: inside --mi-subnet.
	inSubnet addrClass = iota + 1
	// private: a private address (RFC 1918, RFC 6598 shared space, IPv6 ULA),
	// no --mi-subnet given.
	private
	// privateElsewhere: private, but outside --mi-subnet.
	privateElsewhere
	// public: anything routable on the internet: never the VNet-local endpoint.
	public
	// local: loopback, unspecified (0.0.0.0), link-local or multicast: a hosts
	// file or a DNS filter answered, not the MI.
	local
)

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// classify places a against the MI subnet (invalid: not given).
func classify(a netip.Addr, subnet netip.Prefix) addrClass {
	switch {
	case a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsMulticast():
		return local
	case subnet.IsValid() && subnet.Contains(a):
		return inSubnet
	case a.IsPrivate() || sharedSpace.Contains(a):
		if subnet.IsValid() {
			return privateElsewhere
		}
		return private
	}
	return public
}

// dialable reports whether linkmesh connects to an address of class c. It never
// connects to a public address found for the MI: that cannot be the VNet-local
// endpoint, and the check must not send packets to the internet. Local
// addresses are harmless to try (D1 fails them anyway).
func dialable(c addrClass) bool { return c != public }

// publicEndpointName reports whether host is the MI's public endpoint name
// (<mi>.public.<dnszone>.database.windows.net), which cannot carry the link.
func publicEndpointName(host string) bool {
	labels := strings.Split(strings.ToLower(host), ".")
	return len(labels) > 2 && labels[1] == "public"
}

// joinAddrs renders addresses for a report: "10.0.1.254, 10.0.1.253".
func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// NewResolver returns a resolver that sends every query to the DNS server at
// server ("10.0.0.4" or "10.0.0.4:53"), for --dns-server: ask the DNS server
// the MI link will use, or a lab's. Empty server: nil (the system's resolver).
func NewResolver(server string) (*dns.FixedResolver, error) {
	if server == "" {
		return nil, nil
	}
	host, port, err := ParseHostPort("--dns-server", server, 53)
	if err != nil {
		return nil, err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("--dns-server %q: give the DNS server's IP address", server)
	}
	return dns.ServerResolver(netip.AddrPortFrom(a, port)), nil
}
