package check

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"sqlmi1.abc123def456.database.windows.net", "sqlmi1.abc123def456.database.windows.net", ""},
		{"SQLMI1.abc123def456.database.windows.net.", "SQLMI1.abc123def456.database.windows.net", ""},
		{" 10.0.1.254 ", "10.0.1.254", ""},
		{"fd00::5", "fd00::5", ""},
		{"", "", "empty host name"},
		{"sqlmi1", "", "fully qualified"},
		{"tcp://sqlmi1.abc.database.windows.net", "", "without a scheme"},
		{"sqlmi1.abc.database.windows.net:5022", "", "without a port"},
		{"sqlmi1.abc.database.windows.net/x", "", "without a scheme or path"},
		{"sql_mi.abc.database.windows.net", "", `"sql_mi" is not a valid DNS label`},
		{"-mi.abc.net", "", "not a valid DNS label"},
		{"mi..abc.net", "", "not a valid DNS label"},
		{strings.Repeat("a", 64) + ".net", "", "not a valid DNS label"},
		{strings.Repeat("abcdefghi.", 26) + "net", "", "at most 253"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseHost("--mi", tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "--mi") {
					t.Fatalf("ParseHost(%q) error = %v, want one starting with --mi and containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in   string
		want PortRange
		err  string
	}{
		{"11000-11999", PortRange{11000, 11999}, ""},
		{"11002", PortRange{11002, 11002}, ""},
		{" 5022 - 5023 ", PortRange{5022, 5023}, ""},
		{"11999-11000", PortRange{}, "is below"},
		{"0-10", PortRange{}, "not a TCP port"},
		{"11000-70000", PortRange{}, "not a TCP port"},
		{"a-b", PortRange{}, "not a TCP port"},
		{"", PortRange{}, "not a TCP port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePortRange(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePortRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	if r := (PortRange{11000, 11999}); r.Size() != 1000 || r.String() != "11000-11999" || !r.Contains(11500) || r.Contains(12000) {
		t.Errorf("PortRange %v: Size %d, String %q", r, r.Size(), r.String())
	}
}

func TestParseHostPort(t *testing.T) {
	tests := []struct {
		in          string
		defaultPort uint16
		host        string
		port        uint16
		err         string
	}{
		{"127.0.0.1:5022", 5022, "127.0.0.1", 5022, ""},
		{"localhost", 5022, "localhost", 5022, ""},
		{"10.0.0.4", 53, "10.0.0.4", 53, ""},
		{"[::1]:5023", 5022, "::1", 5023, ""},
		{"::1", 5022, "::1", 5022, ""},
		{"db1.tr1.westeurope1-a.worker.database.windows.net:11002", 0, "db1.tr1.westeurope1-a.worker.database.windows.net", 11002, ""},
		{"host.example.net", 0, "", 0, "write host:port"},
		{"127.0.0.1:99999", 5022, "", 0, "not a TCP port"},
		{"127.0.0.1:", 5022, "", 0, "not a TCP port"},
		{"bad_name.example:5022", 0, "", 0, "not a valid DNS label"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h, p, err := ParseHostPort("--x", tt.in, tt.defaultPort)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseHostPort(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || h != tt.host || p != tt.port {
				t.Fatalf("ParseHostPort(%q) = %q, %d, %v; want %q, %d", tt.in, h, p, err, tt.host, tt.port)
			}
		})
	}
}

func TestParseSubnet(t *testing.T) {
	if p, err := ParseSubnet("--mi-subnet", "10.0.1.7/24"); err != nil || p != netip.MustParsePrefix("10.0.1.0/24") {
		t.Errorf("ParseSubnet(10.0.1.7/24) = %v, %v; want 10.0.1.0/24", p, err)
	}
	for _, bad := range []string{"10.0.1.0", "10.0.1.0/33", "subnet", ""} {
		if _, err := ParseSubnet("--mi-subnet", bad); err == nil || !strings.Contains(err.Error(), "not a CIDR prefix") {
			t.Errorf("ParseSubnet(%q) error = %v, want not a CIDR prefix", bad, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{MI: "mi.example.net", MIPort: 5022, HADRPorts: DefaultHADRPorts, HADRSample: 4, Timeout: 5 * time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"no mi", func(c *Config) { c.MI = "" }, "--mi is required"},
		{"node port outside range", func(c *Config) { c.MINode, c.MINodePort = "node.example.net", 1433 }, "outside --hadr-ports"},
		{"sample 0", func(c *Config) { c.HADRSample = 0 }, "--hadr-sample 0"},
		{"sample 65", func(c *Config) { c.HADRSample = 65 }, "--hadr-sample 65"},
		{"timeout tiny", func(c *Config) { c.Timeout = time.Millisecond }, "--timeout"},
		{"timeout huge", func(c *Config) { c.Timeout = time.Hour }, "--timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Validate() = %v, want %q", err, tt.err)
			}
		})
	}
}
