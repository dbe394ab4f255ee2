package config

import (
	"net"
	"time"

	"github.com/linkmesh/linkmesh/internal/yamlconf"
	"github.com/prometheus/exporter-toolkit/web"
)

// validateNetwork checks the coordinator's name, listen addresses and gossip,
// and the metrics options.
func (c *Config) validateNetwork(doc *yamlconf.Doc) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if !validName(c.Name) {
		// The same rule as a probe's name: the name is a label value, and gossip
		// and the probes' reports carry it as "coordinator:NAME".
		add(doc.Errorf([]any{"name"}, "%q: use 1-63 letters, digits, '.', '_', '-' (the rule for probe names; the default is the host name)", c.Name))
	}
	for _, f := range []struct {
		key, addr string
	}{{"grpc", c.Listen.GRPC}, {"http", c.Listen.HTTP}} {
		if err := checkListen(f.addr); err != nil {
			add(doc.Errorf([]any{"listen", f.key}, "%v", err))
		}
	}
	if c.Listen.AdvertiseGRPC != "" {
		if _, port, err := net.SplitHostPort(c.Listen.AdvertiseGRPC); err != nil || port == "" || port == "0" {
			add(doc.Errorf([]any{"listen", "advertise_grpc"}, "%q is not host:port (the address probes use to reach this coordinator)", c.Listen.AdvertiseGRPC))
		}
	}
	if !c.Gossip.Disabled {
		if err := checkListen(withPort(c.Gossip.Bind)); err != nil {
			add(doc.Errorf([]any{"gossip", "bind"}, "%v", err))
		}
		if c.Gossip.Advertise != "" {
			if err := checkListen(withPort(c.Gossip.Advertise)); err != nil {
				add(doc.Errorf([]any{"gossip", "advertise"}, "%v", err))
			}
		}
		for i, j := range c.Gossip.Join {
			if h, _, err := net.SplitHostPort(withPort(j)); err != nil || h == "" {
				add(doc.Errorf([]any{"gossip", "join", i}, "%q is not host or host:port", j))
			} else if err := checkListen(withPort(j)); err != nil {
				add(doc.Errorf([]any{"gossip", "join", i}, "%v", err))
			}
		}
		switch c.Gossip.Profile {
		case "wan", "lan", "local":
		default:
			add(doc.Errorf([]any{"gossip", "profile"}, "%q: use wan (sites across VPN/ExpressRoute), lan or local", c.Gossip.Profile))
		}
	}
	switch c.Metrics.RTTHistogram {
	case RTTHistogramNone, RTTHistogramClassic:
	default:
		add(doc.Errorf([]any{"metrics", "rtt_histogram"}, "%q: use none (the default: RTT quantiles per path only) or classic (also a 16-bucket histogram per path, 19 more series each)", c.Metrics.RTTHistogram))
	}
	return errs
}

// validateTiming checks the default interval and timeout, stale_after and
// max_clock_skew.
func (c *Config) validateTiming(doc *yamlconf.Doc) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if c.Defaults.Interval < minInterval || c.Defaults.Interval > maxInterval {
		add(doc.Errorf([]any{"defaults", "interval"}, "%v is out of range; use %v to %v", c.Defaults.Interval, minInterval, maxInterval))
	}
	if c.Defaults.Timeout <= 0 {
		add(doc.Errorf([]any{"defaults", "timeout"}, "must be positive, e.g. 5s"))
	}
	if c.StaleAfter < time.Second {
		add(doc.Errorf([]any{"stale_after"}, "%v is too short; use at least 1s (probes report every 10 s when idle, so 30s or more is sensible)", c.StaleAfter))
	}
	if c.MaxClockSkew < time.Second || c.MaxClockSkew > 24*time.Hour {
		add(doc.Errorf([]any{"max_clock_skew"}, "%v is out of range; use 1s to 24h (10m suits NTP-synced hosts)", c.MaxClockSkew))
	}
	return errs
}

// validateFiles checks the state directory's snapshot interval and the web
// config file, resolving both paths against the config file's directory.
func (c *Config) validateFiles(doc *yamlconf.Doc) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if c.State.SnapshotInterval < 100*time.Millisecond || c.State.SnapshotInterval > time.Minute {
		add(doc.Errorf([]any{"state", "snapshot_interval"}, "%v is out of range; use 100ms to 1m (acks trail counting by this long)", c.State.SnapshotInterval))
	}
	if c.State.Dir != "" {
		c.State.Dir = c.resolve(c.State.Dir)
	}
	if c.Web.ConfigFile != "" {
		c.Web.ConfigFile = c.resolve(c.Web.ConfigFile)
		if err := web.Validate(c.Web.ConfigFile); err != nil {
			add(doc.Errorf([]any{"web", "config_file"}, "%s: %v (the format of prometheus/exporter-toolkit; a relative path is relative to the config file's directory)", c.Web.ConfigFile, err))
		}
	}
	return errs
}

// validateLimits checks every bound under limits.
func (c *Config) validateLimits(doc *yamlconf.Doc) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if c.Limits.MaxPaths < 1 {
		add(doc.Errorf([]any{"limits", "max_paths"}, "must be at least 1 (default 10000)"))
	}
	for _, l := range []struct {
		key      string
		v        int
		min, max int
	}{
		{"max_connections", c.Limits.MaxConnections, 1, 1 << 20},
		{"max_connections_per_probe", c.Limits.MaxConnectionsPerProbe, 1, 1024},
		{"max_plan_streams_per_probe", c.Limits.MaxPlanStreamsPerProbe, 1, 1024},
		{"results_per_second_per_probe", c.Limits.ResultsPerSecondPerProbe, 10, 1 << 24},
		{"requests_per_second_per_probe", c.Limits.RequestsPerSecondPerProbe, 1, 1 << 20},
		{"max_probes", c.Limits.MaxProbes, 1, 1 << 20},
		{"max_paths_per_probe", c.Limits.MaxPathsPerProbe, 1, 1 << 20},
	} {
		if l.v < l.min || l.v > l.max {
			add(doc.Errorf([]any{"limits", l.key}, "%d is out of range; use %d to %d", l.v, l.min, l.max))
		}
	}
	return errs
}

// validatePaths checks every rule of the path policy and refuses duplicates.
func (c *Config) validatePaths(doc *yamlconf.Doc) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	seen := map[string]int{}
	for i := range c.Paths {
		r := &c.Paths[i]
		for _, err := range r.validate(doc, i, c.Defaults) {
			add(err)
		}
		key := r.key()
		if first, ok := seen[key]; ok {
			add(doc.Errorf([]any{"paths", i}, "duplicates paths[%d] (line %d): both measure the same thing; remove one", first, doc.Line("paths", first)))
			continue
		}
		seen[key] = i
	}
	return errs
}
