// Package dns implements the dns probe kind: resolve a name the way the probe's
// host does (its resolver, its DNS servers, its hosts file), report the
// addresses and the lookup time, and check them against the CIDRs they must
// fall in. For the MI link (DESIGN D1) the SQL Server host must resolve the
// MI's VNet-local FQDN to a private address inside the MI subnet: a public
// address means it reaches the public endpoint (which cannot carry the link)
// or that private DNS is not in use.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// Resolver looks up a name's addresses. *net.Resolver satisfies it; tests pass
// one that talks to a DNS server on loopback.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ServerResolver returns a resolver that sends every query to the DNS server
// at server instead of the system's: the probe's --dns-server (a probe in the
// MI's VNet asking the DNS server the MI uses), check's --dns-server, and
// tests with a DNS server of their own.
func ServerResolver(server netip.AddrPort) *FixedResolver {
	addr := server.String()
	return &FixedResolver{server: server, r: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// FixedResolver asks one DNS server, the one ServerResolver was given, and its
// errors name that server. (Go's resolver takes the servers of the system's
// configuration, /etc/resolv.conf, and names one of them in a *net.DNSError
// even when its Dial sends the query elsewhere: "lookup x on 10.255.255.53:53"
// where --dns-server 10.0.0.4 was asked.) It is safe for concurrent use.
type FixedResolver struct {
	server netip.AddrPort
	r      *net.Resolver
}

// Server returns the address of the DNS server every query goes to.
func (f *FixedResolver) Server() netip.AddrPort { return f.server }

// LookupNetIP looks host up at the server, like (*net.Resolver).LookupNetIP.
// A *net.DNSError it returns names the server that was asked.
func (f *FixedResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	addrs, err := f.r.LookupNetIP(ctx, network, host)
	if de, ok := err.(*net.DNSError); ok { //nolint:errorlint // net.Resolver returns it unwrapped
		// A copy: the resolver may hand the same error to concurrent lookups
		// of the same name.
		named := *de
		named.Server = f.server.String()
		return addrs, &named
	}
	return addrs, err
}

// MaxAddresses bounds the addresses a result carries.
const MaxAddresses = 32

// Prober resolves names. The scheduler calls Probe once per attempt; the zero
// value uses net.DefaultResolver and is safe for concurrent use.
type Prober struct {
	// Resolver resolves names; nil means net.DefaultResolver.
	Resolver Resolver
}

// Probe resolves name, honouring ctx's deadline. Every address must fall
// inside one of expect (when given): an answer outside is mismatch, with the
// reason spelled out (public address, or private but outside the range).
func (p *Prober) Probe(ctx context.Context, name string, expect []netip.Prefix) attempt.Result {
	if _, err := netip.ParseAddr(name); err == nil {
		return attempt.Result{Code: attempt.Error, Detail: fmt.Sprintf("%q is an IP address, not a name to resolve", name)}
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	start := time.Now()
	addrs, err := r.LookupNetIP(ctx, "ip", name)
	took := time.Since(start)
	asked := "this host's DNS"
	if f, ok := r.(interface{ Server() netip.AddrPort }); ok {
		asked = "the DNS server " + f.Server().String()
	}
	if err != nil {
		return attempt.Result{Code: attempt.Classify(err), Detail: lookupFailure(name, asked, err)}
	}
	addrs = unique(addrs)
	res := attempt.Result{RTT: took, RTTSource: attempt.RTTLookup, Addresses: make([]string, 0, len(addrs))}
	for _, a := range addrs[:min(len(addrs), MaxAddresses)] {
		res.Addresses = append(res.Addresses, a.String())
	}
	if len(addrs) == 0 {
		res.Code, res.Detail = attempt.DNS, fmt.Sprintf("%s resolved to no addresses at %s", name, asked)
		return res
	}
	res.Code, res.Detail = judge(name, addrs, expect, took)
	return res
}

func unique(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// judge checks the addresses against the expected CIDRs.
func judge(name string, addrs []netip.Addr, expect []netip.Prefix, took time.Duration) (attempt.Code, string) {
	list := joinAddrs(addrs)
	if len(expect) == 0 {
		d := fmt.Sprintf("%s resolved to %s in %.1f ms", name, list, float64(took)/1e6)
		if slices.ContainsFunc(addrs, isPublic) {
			d += " (a public address; give the expected CIDR to have it checked)"
		}
		return attempt.OK, d
	}
	var public, elsewhere []netip.Addr
	for _, a := range addrs {
		if slices.ContainsFunc(expect, func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		if isPublic(a) {
			public = append(public, a)
		} else {
			elsewhere = append(elsewhere, a)
		}
	}
	want := joinPrefixes(expect)
	switch {
	case len(public) > 0:
		return attempt.Mismatch, fmt.Sprintf("%s resolved to the public address %s, not into %s: this host does not use the private DNS zone, "+
			"so it would reach the public endpoint, which cannot carry the MI link. Point its DNS at a resolver that answers from the private zone "+
			"(e.g. a conditional forwarder for database.windows.net to a DNS forwarder in the VNet), or add a hosts-file entry", name, joinAddrs(public), want)
	case len(elsewhere) > 0:
		return attempt.Mismatch, fmt.Sprintf("%s resolved to %s, outside %s: a stale or wrong DNS record, or a private endpoint (port 1433 only) "+
			"instead of the MI's VNet-local address; correct the record in the private DNS zone", name, joinAddrs(elsewhere), want)
	}
	return attempt.OK, fmt.Sprintf("%s resolved to %s in %.1f ms, inside %s", name, list, float64(took)/1e6, want)
}

// isPublic: an address that is not private, loopback, link-local, shared
// (100.64.0.0/10) or the benchmarking range the lab uses (198.18.0.0/15).
func isPublic(a netip.Addr) bool {
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("198.18.0.0/15")}

// lookupFailure describes a failed lookup; asked names who was asked ("this
// host's DNS" or "the DNS server 10.0.0.4:53").
func lookupFailure(name, asked string, err error) string {
	var de *net.DNSError
	switch {
	case errors.As(err, &de) && de.IsNotFound:
		return fmt.Sprintf("%s does not exist for %s (NXDOMAIN or no records): %v", name, asked, err)
	case errors.As(err, &de) && de.IsTimeout:
		return fmt.Sprintf("%s did not answer for %s in time: %v", asked, name, err)
	}
	return fmt.Sprintf("lookup of %s failed: %v", name, err)
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, 0, min(len(addrs), 4))
	for _, a := range addrs[:min(len(addrs), 4)] {
		s = append(s, a.String())
	}
	if len(addrs) > 4 {
		s = append(s, fmt.Sprintf("and %d more", len(addrs)-4))
	}
	return strings.Join(s, ", ")
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " or ")
}
