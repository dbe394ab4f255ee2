package dnstest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestServe(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Serve(pc, map[string][]netip.Addr{"MI.Example.NET": {netip.MustParseAddr("198.18.2.2")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addr())
	}}
	got, err := r.LookupNetIP(t.Context(), "ip", "mi.example.net")
	if err != nil || len(got) != 1 || got[0].Unmap() != netip.MustParseAddr("198.18.2.2") {
		t.Fatalf("lookup mi.example.net = %v, %v; want [198.18.2.2]", got, err)
	}
	_, err = r.LookupNetIP(t.Context(), "ip", "other.example.net")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("lookup other.example.net: err %v, want not found", err)
	}
	s.Set("mi.example.net", netip.MustParseAddr("2001:db8::1"))
	got, err = r.LookupNetIP(t.Context(), "ip", "mi.example.net")
	if err != nil || len(got) != 1 || !got[0].Is6() {
		t.Fatalf("after Set: %v, %v; want [2001:db8::1]", got, err)
	}
	if s.Queries() == 0 {
		t.Error("Queries() = 0 after lookups")
	}
}
