package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const membershipBase = "paths:\n  - {from: {site: sql}, to: {site: mi}}\n"

// TestForgetAndResponderOptions: forget_after defaults to a week and is
// bounded; forget names and responder_cidrs entries are checked with their
// line; ResponderAllowed takes the peer's address or an allowlisted one.
func TestForgetAndResponderOptions(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(membershipBase))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ForgetAfter != 7*24*time.Hour || len(cfg.Forget) != 0 || len(cfg.ResponderCIDRs) != 0 {
		t.Errorf("defaults: forget_after %v, forget %v, responder_cidrs %v", cfg.ForgetAfter, cfg.Forget, cfg.ResponderCIDRs)
	}
	for _, c := range []struct {
		text string
		want []string
	}{
		{"forget_after: 30m\n", []string{"c.yaml:1:", "forget_after", "1h to 87600h"}},
		{"forget_after: 100000h\n", []string{"c.yaml:1:", "forget_after"}},
		{"stale_after: 2h\nforget_after: 1h\n", []string{"c.yaml:2:", "forget_after", "above stale_after"}},
		{"forget: [old01, \"bad name\"]\n", []string{"c.yaml:1:", "forget[1]", `"bad name"`}},
		{"responder_cidrs: [10.0.0.0/8, 10.0.0.1]\n", []string{"c.yaml:1:", "responder_cidrs[1]", "not a CIDR"}},
	} {
		_, err := Parse("c.yaml", []byte(c.text+membershipBase))
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v; want it to say %q", c.text, err, w)
			}
		}
	}
	cfg, err = Parse("c.yaml", []byte("forget_after: 24h\nforget: [old01]\nresponder_cidrs: [10.20.0.0/16, \"fd00::/64\"]\n"+membershipBase))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ForgetAfter != 24*time.Hour || len(cfg.Forget) != 1 {
		t.Errorf("parsed: forget_after %v, forget %v", cfg.ForgetAfter, cfg.Forget)
	}
	peer := netip.MustParseAddr("192.0.2.7")
	for _, c := range []struct {
		host string
		want bool
	}{
		{"192.0.2.7", true},        // the peer
		{"::ffff:192.0.2.7", true}, // the peer, IPv4-mapped
		{"10.20.3.4", true},        // allowlisted
		{"fd00::1%eth0", true},     // allowlisted, with a zone
		{"10.21.0.1", false},       // neither
		{"192.0.2.8", false},       // the peer's neighbour
		{"fd00:0:0:1::1", false},   // outside the /64
	} {
		if got := cfg.ResponderAllowed(netip.MustParseAddr(c.host), peer); got != c.want {
			t.Errorf("ResponderAllowed(%s, from %s) = %v; want %v", c.host, peer, got, c.want)
		}
	}
	// A config built in code (not parsed) is read the same way.
	code := &Config{ResponderCIDRs: []string{"10.20.0.0/16"}}
	if !code.ResponderAllowed(netip.MustParseAddr("10.20.0.9"), netip.Addr{}) || code.ResponderAllowed(netip.MustParseAddr("10.21.0.9"), netip.Addr{}) {
		t.Error("a config built in code: responder_cidrs not applied")
	}
}
