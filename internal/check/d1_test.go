package check

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestD1 judges what the MI's name resolves to. Only the lookup runs (against a
// DNS server on loopback); nothing is dialed.
func TestD1(t *testing.T) {
	const mi = "sqlmi1.abc123def456.database.windows.net"
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	tests := []struct {
		name    string
		host    string
		records []netip.Addr
		subnet  netip.Prefix
		status  Status
		result  string
		reason  []string
		fixFor  string
	}{
		{"in subnet", mi, addrs("10.0.1.254"), subnet, Pass, "", []string{"inside the MI subnet 10.0.1.0/24"}, ""},
		{"private, no subnet given", mi, addrs("10.0.1.254"), netip.Prefix{}, Pass, "", []string{"give --mi-subnet"}, ""},
		{"shared address space", mi, addrs("100.64.3.4"), netip.Prefix{}, Pass, "", []string{"private address"}, ""},
		{"outside subnet", mi, addrs("10.1.0.5"), subnet, Fail, "", []string{"outside the MI subnet 10.0.1.0/24", "private endpoint"}, ForDNS},
		{"public", mi, addrs("203.0.113.10"), subnet, Fail, "", []string{"203.0.113.10 is a public address", "public endpoint", "DNS on this host"}, ForDNS},
		{"public, no subnet", mi, addrs("203.0.113.10"), netip.Prefix{}, Fail, "", []string{"give --mi-subnet"}, ForDNS},
		{"VNet in public space", mi, addrs("203.0.113.10"), netip.MustParsePrefix("203.0.113.0/24"), Pass, "", []string{"inside the MI subnet"}, ""},
		{"one of two public", mi, addrs("10.0.1.254", "203.0.113.10"), subnet, Fail, "", []string{"203.0.113.10 is a public address"}, ForDNS},
		{"loopback", mi, addrs("127.0.0.1"), subnet, Fail, "", []string{"loopback", "hosts-file"}, ForDNS},
		{"blocked name", mi, addrs("0.0.0.0"), subnet, Fail, "", []string{"DNS filter"}, ForDNS},
		{"no such name", mi, nil, subnet, Fail, "dns", []string{"does not resolve", "no such name"}, ForDNS},
		{"public endpoint name", "sqlmi1.public.abc123def456.database.windows.net", addrs("203.0.113.10"), subnet, Fail, "", []string{"public endpoint name (port 3342)"}, ForDBA},
		{"given as address", "10.0.1.254", nil, subnet, Skip, "", []string{"nothing to resolve"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := map[string][]netip.Addr{}
			if tt.records != nil {
				records[tt.host] = tt.records
			}
			cfg := Config{MI: tt.host, MIPort: 5022, MISubnet: tt.subnet, Timeout: 2 * time.Second, Resolver: resolver(t, records)}
			o := newNetwork(cfg).d1(t.Context())
			if o.Status != tt.status || o.Result != tt.result {
				t.Fatalf("status %s result %q, want %s %q (%+v)", o.Status, o.Result, tt.status, tt.result, o)
			}
			for _, want := range tt.reason {
				if !strings.Contains(o.Reason, want) {
					t.Errorf("reason %q does not say %q", o.Reason, want)
				}
			}
			switch {
			case tt.fixFor == "" && o.Fix != nil:
				t.Errorf("unexpected fix %+v", o.Fix)
			case tt.fixFor != "" && (o.Fix == nil || o.Fix.For != tt.fixFor || len(o.Fix.Steps) == 0):
				t.Errorf("fix %+v, want one for the %s", o.Fix, tt.fixFor)
			}
		})
	}
}

func TestD1DNSServerDown(t *testing.T) {
	// A resolver that asks a port no DNS server listens on: the lookup fails
	// (refused, or at the timeout) and D1 says so as a DNS result.
	r, err := NewResolver("127.0.0.1:" + itoa(closedPort(t)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MI: "mi.example.net", MIPort: 5022, Timeout: 300 * time.Millisecond, Resolver: r}
	o := newNetwork(cfg).d1(t.Context())
	if o.Status != Fail || o.Result != "dns" {
		t.Fatalf("got %+v, want a dns failure", o)
	}
}

func TestClassify(t *testing.T) {
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	tests := []struct {
		addr   string
		subnet netip.Prefix
		want   addrClass
	}{
		{"10.0.1.5", subnet, inSubnet},
		{"10.0.2.5", subnet, privateElsewhere},
		{"192.168.1.1", netip.Prefix{}, private},
		{"172.16.0.1", netip.Prefix{}, private},
		{"100.64.0.1", netip.Prefix{}, private},
		{"fd12::1", netip.Prefix{}, private},
		{"20.50.1.2", subnet, public},
		{"2001:db8::1", netip.Prefix{}, public},
		{"127.0.0.1", subnet, local},
		{"0.0.0.0", subnet, local},
		{"169.254.1.1", subnet, local},
	}
	for _, tt := range tests {
		if got := classify(netip.MustParseAddr(tt.addr), tt.subnet); got != tt.want {
			t.Errorf("classify(%s, %v) = %d, want %d", tt.addr, tt.subnet, got, tt.want)
		}
	}
	if dialable(public) || !dialable(local) || !dialable(inSubnet) {
		t.Error("dialable: never public, anything else")
	}
}

func TestNewResolver(t *testing.T) {
	if r, err := NewResolver(""); r != nil || err != nil {
		t.Errorf(`NewResolver("") = %v, %v; want nil, nil (the system's)`, r, err)
	}
	if _, err := NewResolver("10.0.0.4"); err != nil {
		t.Errorf("NewResolver(10.0.0.4): %v", err)
	}
	for _, bad := range []string{"dns.example.net", "10.0.0.4:99999", "[::1"} {
		if _, err := NewResolver(bad); err == nil || !strings.HasPrefix(err.Error(), "--dns-server") {
			t.Errorf("NewResolver(%q) error = %v, want a --dns-server error", bad, err)
		}
	}
}
