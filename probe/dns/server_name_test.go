package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/probe/attempt"
)

// startDNS serves records on a loopback UDP port with internal/dnstest.
func startDNS(t *testing.T, records map[string][]netip.Addr) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dnstest.Serve(pc, records)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return netip.MustParseAddrPort(srv.Addr())
}

// closedUDP returns a loopback UDP address nothing listens on: a query there
// gets ICMP port unreachable.
func closedUDP(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return addr
}

// TestDetailNamesTheServerAsked: with --dns-server (ServerResolver), the
// detail of a failed lookup names that server, not the system's resolver
// from /etc/resolv.conf, which was never asked.
func TestDetailNamesTheServerAsked(t *testing.T) {
	server := startDNS(t, map[string][]netip.Addr{miName: addrs("10.1.2.5")})
	dead := closedUDP(t)
	tests := []struct {
		name   string
		server netip.AddrPort
		host   string
		want   attempt.Code
		detail []string
	}{
		{name: "nxdomain", server: server, host: "missing.example", want: attempt.DNS, detail: []string{
			"missing.example does not exist for the DNS server " + server.String(),
			"lookup missing.example on " + server.String() + ": no such host",
		}},
		{name: "server not listening", server: dead, host: miName, want: attempt.DNS, detail: []string{
			"lookup " + miName + " on " + dead.String() + ":",
		}},
		{name: "answer", server: server, host: miName, want: attempt.OK, detail: []string{"resolved to 10.1.2.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ServerResolver(tt.server)
			if r.Server() != tt.server {
				t.Fatalf("Server() = %v, want %v", r.Server(), tt.server)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			res := (&Prober{Resolver: r}).Probe(ctx, tt.host, nil)
			if res.Code != tt.want {
				t.Fatalf("got %v %q, want %v", res.Code, res.Detail, tt.want)
			}
			for _, d := range tt.detail {
				if !strings.Contains(res.Detail, d) {
					t.Errorf("detail %q, want it to contain %q", res.Detail, d)
				}
			}
			// Only the server asked may be named.
			if strings.Count(res.Detail, " on ") > 1 || (strings.Contains(res.Detail, " on ") && !strings.Contains(res.Detail, " on "+tt.server.String())) {
				t.Errorf("detail %q names a server other than %v", res.Detail, tt.server)
			}
		})
	}
}

// TestDetailNamesTheSystemResolver: without --dns-server the detail says the
// host's DNS was asked (Go's own error names the server it used).
func TestDetailNamesTheSystemResolver(t *testing.T) {
	if got := lookupFailure("x.example", "this host's DNS", &net.DNSError{Err: "no such host", Name: "x.example", IsNotFound: true}); !strings.Contains(got, "does not exist for this host's DNS") {
		t.Errorf("lookupFailure = %q, want it to say this host's DNS", got)
	}
}
