package cli

import (
	"strings"
	"testing"
)

func TestParseDNSServer(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "10.0.0.4", want: "10.0.0.4:53"},
		{in: "198.18.0.1:5353", want: "198.18.0.1:5353"},
		{in: "fd00::1", want: "[fd00::1]:53"},
		{in: "[fd00::1]:5353", want: "[fd00::1]:5353"},
		{in: "dns.example.com", err: `--dns-server "dns.example.com": give the DNS server's IP address`},
		{in: "10.0.0.4:x", err: "give the DNS server's IP address"},
	}
	for _, tt := range tests {
		got, err := parseDNSServer(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseDNSServer(%q): error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("parseDNSServer(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
