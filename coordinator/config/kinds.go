package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/yamlconf"
)

// EchoOptions tune a rule of kind echo. Validation fills in the defaults.
type EchoOptions struct {
	// Rounds is the round trips per attempt (default 10, at most 100).
	Rounds int `yaml:"rounds"`
	// MTUEvery is how often a path-MTU check runs: on the first attempt, then
	// on the first attempt after each MTUEvery (default 5m; 0 turns it off).
	MTUEvery *time.Duration `yaml:"mtu_every"`
	// Burst is the size of a throughput burst, e.g. "16MiB" or "10MB"
	// (default 0: no burst; at most 1GiB). It sends real data: keep it off on
	// links that are paid for by volume or already busy.
	Burst string `yaml:"burst"`
	// BurstEvery is how often the burst runs (default 1h).
	BurstEvery time.Duration `yaml:"burst_every"`
	// BurstTime caps one burst's duration (default 5s, at most 60s); the
	// throughput is measured over what crossed by then.
	BurstTime time.Duration `yaml:"burst_time"`

	// BurstBytes is Burst in bytes, set by validation.
	BurstBytes int64 `yaml:"-"`
}

// DNSOptions tune a rule of kind dns.
type DNSOptions struct {
	// ExpectCIDRs are the ranges every answer must fall in, e.g. the MI
	// subnet ["10.1.2.0/24"]; an answer outside (above all, a public
	// address) is a mismatch. Empty: any answer passes.
	ExpectCIDRs []string `yaml:"expect_cidrs"`
}

// Defaults and bounds of the kind options.
const (
	// DefaultRounds is echo.rounds when not given; MaxRounds bounds it.
	DefaultRounds = 10
	MaxRounds     = 100
	// DefaultMTUEvery is echo.mtu_every when not given.
	DefaultMTUEvery = 5 * time.Minute
	// DefaultBurstEvery and DefaultBurstTime are echo.burst_every and
	// echo.burst_time when not given; MaxBurstTime bounds the latter.
	DefaultBurstEvery = time.Hour
	DefaultBurstTime  = 5 * time.Second
	MaxBurstTime      = time.Minute
	// MaxBurstBytes bounds echo.burst (the responder's own limit).
	MaxBurstBytes = 1 << 30
	maxCIDRs      = 16
)

// validateKindOptions checks the kind-specific parts of r and fills defaults.
func (r *Rule) validateKindOptions(doc *yamlconf.Doc, at func(...any) []any) []error {
	var errs []error
	add := func(path []any, format string, args ...any) { errs = append(errs, doc.Errorf(path, format, args...)) }
	if r.Echo != nil && r.Kind != "echo" {
		add(at("echo"), "echo options need kind: echo (this rule is kind %s)", r.Kind)
	}
	if r.DNS != nil && r.Kind != "dns" {
		add(at("dns"), "dns options need kind: dns (this rule is kind %s)", r.Kind)
	}
	switch r.Kind {
	case "echo":
		if r.Echo == nil {
			r.Echo = &EchoOptions{}
		}
		errs = append(errs, r.Echo.validate(doc, at, r.Interval, r.Timeout)...)
	case "dns":
		if r.DNS == nil {
			r.DNS = &DNSOptions{}
		}
		if r.To.Address == "" {
			add(at("to"), "kind dns resolves a name: give it as address (to: {address: mi1.abc123.database.windows.net})")
		} else if _, err := netip.ParseAddr(r.To.Address); err == nil {
			add(at("to", "address"), "%q is an IP address; kind dns needs a host name to resolve", r.To.Address)
		}
		if len(r.DNS.ExpectCIDRs) > maxCIDRs {
			add(at("dns", "expect_cidrs"), "%d CIDRs; at most %d", len(r.DNS.ExpectCIDRs), maxCIDRs)
		}
		for i, c := range r.DNS.ExpectCIDRs {
			if p, err := netip.ParsePrefix(c); err != nil {
				add(at("dns", "expect_cidrs", i), "%q is not a CIDR such as 10.1.2.0/24 (the MI subnet)", c)
			} else if p != p.Masked() {
				add(at("dns", "expect_cidrs", i), "%q has host bits set; did you mean %s?", c, p.Masked())
			}
		}
	}
	return errs
}

func (e *EchoOptions) validate(doc *yamlconf.Doc, at func(...any) []any, interval, timeout time.Duration) []error {
	var errs []error
	add := func(path []any, format string, args ...any) { errs = append(errs, doc.Errorf(path, format, args...)) }
	if e.Rounds == 0 {
		e.Rounds = DefaultRounds
	}
	if e.Rounds < 1 || e.Rounds > MaxRounds {
		add(at("echo", "rounds"), "%d round trips; use 1 to %d", e.Rounds, MaxRounds)
	}
	if e.MTUEvery == nil {
		d := DefaultMTUEvery
		e.MTUEvery = &d
	}
	if d := *e.MTUEvery; d != 0 && (d < interval || d > 24*time.Hour) {
		add(at("echo", "mtu_every"), "%v; use 0 (no path-MTU checks) or from the rule's interval (%v) to 24h", d, interval)
	}
	n, err := ParseBytes(e.Burst)
	switch {
	case err != nil:
		add(at("echo", "burst"), "%v", err)
	case n < 0 || n > MaxBurstBytes:
		add(at("echo", "burst"), "%s is out of range; use 0 (no burst) to 1GiB", e.Burst)
	}
	e.BurstBytes = n
	if e.BurstEvery == 0 {
		e.BurstEvery = DefaultBurstEvery
	}
	if e.BurstTime == 0 {
		e.BurstTime = DefaultBurstTime
	}
	if e.BurstBytes > 0 {
		if e.BurstEvery < interval || e.BurstEvery > 7*24*time.Hour {
			add(at("echo", "burst_every"), "%v; use from the rule's interval (%v) to 168h", e.BurstEvery, interval)
		}
		if e.BurstTime < 100*time.Millisecond || e.BurstTime > MaxBurstTime {
			add(at("echo", "burst_time"), "%v; use 100ms to %v", e.BurstTime, MaxBurstTime)
		} else if e.BurstTime >= timeout {
			add(at("echo", "burst_time"), "%v does not fit in the rule's timeout (%v): raise timeout to at least %v", e.BurstTime, timeout, e.BurstTime+5*time.Second)
		}
	}
	return errs
}

// Every converts a period into attempts at interval: 0 stays 0 (never),
// anything else is at least 1. The policy uses it for mtu_every and
// burst_every.
func Every(period, interval time.Duration) uint32 {
	if period <= 0 || interval <= 0 {
		return 0
	}
	n := (period + interval - 1) / interval
	return uint32(min(max(n, 1), 1<<31))
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseBytes reads a size such as "16MiB", "10MB", "4096" or "" (0).
func ParseBytes(s string) (int64, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(text, u.suffix) {
			text, mult = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as 16MiB, 10MB or 4096 (bytes)", s)
	}
	return n * mult, nil
}
