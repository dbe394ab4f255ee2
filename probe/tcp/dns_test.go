package tcp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/dns"
)

// dnsMode says how fakeDNS answers.
type dnsMode int

const (
	dnsNXDomain dnsMode = iota // every name: NXDOMAIN
	dnsSilent                  // never answers
	dnsLoopback                // A queries: 127.0.0.1; anything else: no data
)

// fakeDNS starts a DNS server on a loopback UDP port and returns a resolver that
// sends every query there, whatever /etc/resolv.conf says, so no test packet leaves
// the machine.
func fakeDNS(t *testing.T, mode dnsMode) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed by cleanup
			}
			if mode == dnsSilent {
				continue
			}
			if resp := dnsAnswer(buf[:n], mode); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", server)
		},
	}
}

// dnsAnswer builds the response to query q, or nil if q is malformed.
func dnsAnswer(q []byte, mode dnsMode) []byte {
	const headerLen = 12
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	// Walk the question name (uncompressed labels) to find QTYPE/QCLASS.
	end := headerLen
	for end < len(q) && q[end] != 0 {
		end += int(q[end]) + 1
	}
	end += 1 + 4 // root label, QTYPE, QCLASS
	if end > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end-4 : end-2])

	resp := make([]byte, headerLen, end+16)
	copy(resp, q[:4])                                                         // ID, then flags overwritten below
	flags := uint16(0x8000) | binary.BigEndian.Uint16(q[2:4])&0x0100 | 0x0080 // QR, RD copied, RA
	if mode == dnsNXDomain {
		flags |= 3 // RCODE NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:4], flags)
	binary.BigEndian.PutUint16(resp[4:6], 1) // QDCOUNT
	resp = append(resp, q[headerLen:end]...)
	if mode == dnsLoopback && qtype == 1 { // A
		binary.BigEndian.PutUint16(resp[6:8], 1) // ANCOUNT
		resp = append(resp,
			0xc0, headerLen, // name: pointer to the question
			0, 1, 0, 1, // TYPE A, CLASS IN
			0, 0, 0, 60, // TTL
			0, 4, 127, 0, 0, 1) // RDLENGTH, RDATA
	}
	return resp
}

func TestFakeDNS(t *testing.T) {
	r := fakeDNS(t, dnsLoopback)
	ips, err := r.LookupNetIP(t.Context(), "ip", "target.linkmesh.invalid")
	if err != nil || len(ips) != 1 || ips[0].Unmap().String() != "127.0.0.1" {
		t.Fatalf("lookup = %v, %v; want [127.0.0.1], nil", ips, err)
	}
	_, err = fakeDNS(t, dnsNXDomain).LookupNetIP(t.Context(), "ip", "target.linkmesh.invalid")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("lookup error = %v, want a not-found *net.DNSError", err)
	}
}

// TestResolveNamesTheServerAsked: a tcp or echo target's name resolved through
// --dns-server (dns.ServerResolver) fails with a detail naming that server,
// not the system's resolver.
func TestResolveNamesTheServerAsked(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dnstest.Serve(pc, map[string][]netip.Addr{"known.linkmesh.invalid": {netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	p := Prober{Resolver: dns.ServerResolver(netip.MustParseAddrPort(srv.Addr()))}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res := p.Probe(ctx, "missing.linkmesh.invalid:5022")
	want := "lookup missing.linkmesh.invalid on " + srv.Addr() + ": no such host"
	if res.Code != attempt.DNS || res.Detail != want {
		t.Errorf("got %v %q, want dns %q", res.Code, res.Detail, want)
	}
}
