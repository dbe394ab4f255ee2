package config

import (
	"net/netip"
	"strings"

	"github.com/linkmesh/linkmesh/internal/yamlconf"
)

// CheckRounds bounds on-demand check rounds (RunCheck, `linkmesh check
// --coordinator`). Operator certificates (`linkmesh certs operator`) may run
// them; probe certificates only when AllowProbes names them.
type CheckRounds struct {
	// AllowProbes names probes whose own certificate may run a round (for the
	// probe itself only, as before operator certificates). Default: none.
	AllowProbes []string `yaml:"allow_probes"`
	// RoundsPerMinute is each caller's sustained rate of rounds (default 1).
	RoundsPerMinute int `yaml:"rounds_per_minute"`
	// Burst is how many rounds a caller may start at once (default 3).
	Burst int `yaml:"burst"`
	// MaxBurstBytes caps a round's throughput burst (burst_bytes; default
	// 64 MiB, at most 1 GiB).
	MaxBurstBytes uint64 `yaml:"max_burst_bytes"`
	// SQLPorts are the ports a round may test on the SQL host, and so the
	// ports a stand-in may be asked for (default [5022]).
	SQLPorts []int `yaml:"sql_ports"`
	// SQLHostNames are further names (or addresses) of a probe's host that a
	// round may give as its SQL host, by probe name, e.g. {sql01:
	// [sql01.corp.example]} for the name the MI resolves (row D2). Without
	// them a round's SQL host is one of the probe's own addresses.
	SQLHostNames map[string][]string `yaml:"sql_host_names"`
}

// Bounds of CheckRounds.
const (
	maxRoundsPerMinute = 60
	maxRoundBurst      = 100
	// MaxCheckBurstBytes is the most max_burst_bytes may be: 1 GiB.
	MaxCheckBurstBytes = 1 << 30
	maxSQLPorts        = 16
)

// DefaultCheckRounds are the check-round bounds a config that says nothing gets.
func DefaultCheckRounds() CheckRounds {
	return CheckRounds{RoundsPerMinute: 1, Burst: 3, MaxBurstBytes: 64 << 20, SQLPorts: []int{5022}}
}

// OrDefault returns c with every zero field replaced by its default, for
// configs built in code rather than parsed.
func (c CheckRounds) OrDefault() CheckRounds {
	d := DefaultCheckRounds()
	if c.RoundsPerMinute == 0 {
		c.RoundsPerMinute = d.RoundsPerMinute
	}
	if c.Burst == 0 {
		c.Burst = d.Burst
	}
	if c.MaxBurstBytes == 0 {
		c.MaxBurstBytes = d.MaxBurstBytes
	}
	if len(c.SQLPorts) == 0 {
		c.SQLPorts = d.SQLPorts
	}
	return c
}

// AllowsProbe reports whether AllowProbes names probe.
func (c CheckRounds) AllowsProbe(probe string) bool {
	for _, p := range c.AllowProbes {
		if p == probe {
			return true
		}
	}
	return false
}

// HostNamed reports whether SQLHostNames lists host for probe.
func (c CheckRounds) HostNamed(probe, host string) bool {
	for _, h := range c.SQLHostNames[probe] {
		if strings.EqualFold(strings.TrimSuffix(h, "."), strings.TrimSuffix(host, ".")) {
			return true
		}
	}
	return false
}

// AllowsPort reports whether a round may test port.
func (c CheckRounds) AllowsPort(port uint32) bool {
	for _, p := range c.SQLPorts {
		if uint32(p) == port {
			return true
		}
	}
	return false
}

func (c *CheckRounds) validate(doc *yamlconf.Doc) []error {
	var errs []error
	at := func(k ...any) []any { return append([]any{"check_rounds"}, k...) }
	for i, p := range c.AllowProbes {
		if !validName(p) {
			errs = append(errs, doc.Errorf(at("allow_probes", i), "%q is not a probe name", p))
		}
	}
	if c.RoundsPerMinute < 1 || c.RoundsPerMinute > maxRoundsPerMinute {
		errs = append(errs, doc.Errorf(at("rounds_per_minute"), "%d is out of range; use 1 to %d (default 1)", c.RoundsPerMinute, maxRoundsPerMinute))
	}
	if c.Burst < 1 || c.Burst > maxRoundBurst {
		errs = append(errs, doc.Errorf(at("burst"), "%d is out of range; use 1 to %d (default 3)", c.Burst, maxRoundBurst))
	}
	if c.MaxBurstBytes < 1 || c.MaxBurstBytes > MaxCheckBurstBytes {
		errs = append(errs, doc.Errorf(at("max_burst_bytes"), "%d is out of range; use 1 to %d (1 GiB; default 64 MiB)", c.MaxBurstBytes, MaxCheckBurstBytes))
	}
	if len(c.SQLPorts) == 0 || len(c.SQLPorts) > maxSQLPorts {
		errs = append(errs, doc.Errorf(at("sql_ports"), "give 1 to %d ports (default [5022], the mirroring endpoint's)", maxSQLPorts))
	}
	for i, p := range c.SQLPorts {
		if p < 1 || p > 65535 {
			errs = append(errs, doc.Errorf(at("sql_ports", i), "%d is not a TCP port (1-65535)", p))
		}
	}
	for probe, hosts := range c.SQLHostNames {
		if !validName(probe) {
			errs = append(errs, doc.Errorf(at("sql_host_names", probe), "%q is not a probe name", probe))
		}
		for i, h := range hosts {
			if !validHostname(h) && !isIP(h) {
				errs = append(errs, doc.Errorf(at("sql_host_names", probe, i), "%q is not a host name or IP address", h))
			}
		}
	}
	return errs
}

func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}
