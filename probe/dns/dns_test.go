package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

const miName = "mi1.abc123.database.windows.net"

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestProbe(t *testing.T) {
	miSubnet := []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24")}
	r := serve(t, zone{
		records: map[string][]netip.Addr{
			miName:              addrs("10.1.2.5"),
			"public.example":    addrs("20.50.1.2"),
			"elsewhere.example": addrs("10.9.9.9"),
			"mixed.example":     addrs("10.1.2.6", "20.50.1.3"),
			"dual.example":      addrs("10.1.2.7", "fd00::7"),
			"empty.example":     nil,
			"lab.example":       addrs("198.18.2.2"),
		},
		silent: map[string]bool{"silent.example": true},
	})
	tests := []struct {
		name       string
		host       string
		expect     []netip.Prefix
		timeout    time.Duration
		want       attempt.Code
		wantAddrs  []string
		wantDetail string
	}{
		{name: "private address in the MI subnet", host: miName, expect: miSubnet, want: attempt.OK, wantAddrs: []string{"10.1.2.5"}, wantDetail: "inside 10.1.2.0/24"},
		{name: "public address (D1)", host: "public.example", expect: miSubnet, want: attempt.Mismatch, wantAddrs: []string{"20.50.1.2"}, wantDetail: "public address 20.50.1.2"},
		{name: "private but outside the subnet", host: "elsewhere.example", expect: miSubnet, want: attempt.Mismatch, wantDetail: "outside 10.1.2.0/24"},
		{name: "one answer of two is public", host: "mixed.example", expect: miSubnet, want: attempt.Mismatch, wantDetail: "public address 20.50.1.3"},
		{name: "ipv6 outside the ipv4 subnet", host: "dual.example", expect: miSubnet, want: attempt.Mismatch, wantDetail: "fd00::7"},
		{name: "no expectation: any answer", host: "public.example", want: attempt.OK, wantDetail: "a public address"},
		{name: "lab range is not public", host: "lab.example", want: attempt.OK, wantAddrs: []string{"198.18.2.2"}},
		{name: "nxdomain", host: "missing.example", expect: miSubnet, want: attempt.DNS, wantDetail: "does not exist"},
		{name: "no records", host: "empty.example", want: attempt.DNS},
		{name: "server silent", host: "silent.example", timeout: 300 * time.Millisecond, want: attempt.DNS, wantDetail: "silent.example"},
		{name: "an ip address", host: "10.1.2.5", want: attempt.Error, wantDetail: "not a name"},
	}
	p := Prober{Resolver: r}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			res := p.Probe(ctx, tt.host, tt.expect)
			if res.Code != tt.want || !strings.Contains(res.Detail, tt.wantDetail) {
				t.Fatalf("got %s %q, want %s containing %q", res.Code, res.Detail, tt.want, tt.wantDetail)
			}
			if tt.wantAddrs != nil && !slices.Equal(res.Addresses, tt.wantAddrs) {
				t.Errorf("addresses %v, want %v", res.Addresses, tt.wantAddrs)
			}
			if len(res.Addresses) > 0 && (res.RTTSource != attempt.RTTLookup || res.RTT <= 0) {
				t.Errorf("lookup time %v (%s), want positive, from the lookup", res.RTT, res.RTTSource)
			}
		})
	}
}
