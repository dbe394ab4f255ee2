// Package config holds the coordinator's configuration: where it listens, and the
// path policy that says which probe measures what. Load reads a YAML file strictly
// and validates it; every error names the file, the line and what to fix.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/linkmesh/linkmesh/internal/yamlconf"
)

// Config is the coordinator's configuration file.
type Config struct {
	// Name identifies this coordinator in logs and to probes (default: the host name).
	Name string `yaml:"name"`
	// Listen says where the coordinator serves.
	Listen Listen `yaml:"listen"`
	// Defaults apply to every path rule that does not set its own values.
	Defaults Defaults `yaml:"defaults"`
	// StaleAfter is how long a probe may go without reporting before the coordinator
	// counts it as down and its paths as unknown (probes report at least every 10 s).
	StaleAfter time.Duration `yaml:"stale_after"`
	// MaxClockSkew bounds how far a result's probe time may be ahead of the
	// coordinator's clock, or behind the probe's latest result, before it is
	// clamped and counted (results are ordered by sequence, never by time).
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// ForgetAfter is how long a probe may stay silent (no registration, no
	// report, no plan stream) before the coordinator forgets it with its
	// paths, in memory and in the state directory.
	ForgetAfter time.Duration `yaml:"forget_after"`
	// Forget lists probes to forget at once, when the config is loaded (at
	// start and on every reload): a probe taken out of service. A listed probe
	// that still runs comes back at its next report, as a new probe.
	Forget []string `yaml:"forget"`
	// ResponderCIDRs lists the networks (CIDRs) a probe's responder address
	// may lie in besides the address the coordinator sees the probe connect
	// from: needed when probes connect through NAT or from another interface
	// than the one other probes reach.
	ResponderCIDRs []string `yaml:"responder_cidrs"`
	// MeshKeyFile holds the mesh's shared secret (see `linkmesh certs mesh-key`);
	// it encrypts gossip. Required unless the coordinator runs with --insecure.
	MeshKeyFile string `yaml:"mesh_key_file"`
	// Gossip configures membership.
	Gossip Gossip `yaml:"gossip"`
	// Paths is the path policy: which probes measure which targets, and how.
	Paths []Rule `yaml:"paths"`
	// TLS names the coordinator's mTLS files; without them the coordinator
	// starts only with --insecure.
	TLS TLS `yaml:"tls"`
	// State keeps path state and probe cursors across restarts.
	State State `yaml:"state"`
	// Limits guard the coordinator's size, and bound what probes (and anyone
	// else connecting) may cost.
	Limits Limits `yaml:"limits"`
	// Web secures the HTTP port (/metrics, /api/v1/paths).
	Web Web `yaml:"web"`
	// CheckRounds bounds on-demand check rounds: who may run them, how often,
	// and what they may test (checkrounds.go).
	CheckRounds CheckRounds `yaml:"check_rounds"`
	// Metrics chooses optional series of /metrics.
	Metrics Metrics `yaml:"metrics"`

	// dir is the config file's directory, against which relative paths resolve
	// ("" for a config that is not a file).
	dir string
	// warnings are set by validation (see Warnings).
	warnings []string
	// responderNets are ResponderCIDRs parsed by validation.
	responderNets []netip.Prefix
}

// TLS names PEM files (made with `linkmesh certs`). A relative path is relative
// to the config file's directory. The files are re-read when they change.
type TLS struct {
	// CA is the private CA's certificate; probes must present a certificate it signed.
	CA string `yaml:"ca"`
	// Cert is the coordinator's certificate (`linkmesh certs server`).
	Cert string `yaml:"cert"`
	// Key is the coordinator's private key.
	Key string `yaml:"key"`
}

// Web secures the HTTP port with TLS and basic auth.
type Web struct {
	// ConfigFile is a web config file in the format of
	// prometheus/exporter-toolkit (tls_server_config, basic_auth_users), as
	// node_exporter's --web.config.file; the coordinator's --web.config.file
	// overrides it. A relative path is relative to this config file's
	// directory. Its contents are read again on every request and TLS
	// handshake; the path takes effect at a restart.
	ConfigFile string `yaml:"config_file"`
}

// Metrics chooses optional series of /metrics (docs/metrics.md).
type Metrics struct {
	// RTTHistogram is "classic" to export linkmesh_path_rtt_seconds, a
	// histogram of 16 classic buckets per path (19 series), besides the
	// window's quantiles linkmesh_path_rtt_quantile_seconds; "none" (the
	// default) leaves it out. Takes effect at a reload.
	RTTHistogram string `yaml:"rtt_histogram"`
}

// RTT histogram choices (Metrics.RTTHistogram).
const (
	RTTHistogramNone    = "none"
	RTTHistogramClassic = "classic"
)

// State configures the state directory.
type State struct {
	// Dir holds the checkpoint of path state and probe cursors. Empty: nothing
	// survives a restart (counters restart at 0) and acks are immediate.
	Dir string `yaml:"dir"`
	// SnapshotInterval is how often the checkpoint is written (when anything
	// changed); acks trail counting by up to this long.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
}

// Limits bound the coordinator's resources: what the policy may expand to, and
// what probes may cost, per probe and in total.
type Limits struct {
	// MaxPaths is the most paths the policy may expand to over the current
	// probes; each path is about 30 series. A reload that would exceed it is
	// refused; at runtime, extra targets are left out of plans and logged.
	MaxPaths int `yaml:"max_paths"`
	// MaxConnections bounds open gRPC connections; at the bound a new one
	// displaces the oldest connection still in its TLS handshake, or is refused.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerProbe bounds connections holding one probe certificate.
	MaxConnectionsPerProbe int `yaml:"max_connections_per_probe"`
	// MaxPlanStreamsPerProbe bounds one probe's open plan streams.
	MaxPlanStreamsPerProbe int `yaml:"max_plan_streams_per_probe"`
	// ResultsPerSecondPerProbe bounds the rate of results one probe may send
	// (a replayed backlog included); beyond it the probe is told to wait.
	ResultsPerSecondPerProbe int `yaml:"results_per_second_per_probe"`
	// RequestsPerSecondPerProbe bounds one probe's calls of any kind.
	RequestsPerSecondPerProbe int `yaml:"requests_per_second_per_probe"`
	// MaxProbes bounds the probes the coordinator keeps state for.
	MaxProbes int `yaml:"max_probes"`
	// MaxPathsPerProbe bounds the paths (metric label sets) one probe may create.
	MaxPathsPerProbe int `yaml:"max_paths_per_probe"`
}

// Gossip configures the coordinator's membership in the mesh's gossip cluster.
type Gossip struct {
	// Disabled turns gossip off: probes are then known only by their gRPC reports.
	Disabled bool `yaml:"disabled"`
	// Bind is the gossip address, TCP and UDP (default ":7946").
	Bind string `yaml:"bind"`
	// Advertise is the host[:port] other members reach this coordinator at.
	Advertise string `yaml:"advertise"`
	// Join lists seed members (host[:port]), e.g. the other coordinator.
	Join []string `yaml:"join"`
	// Profile tunes gossip timing: wan (default), lan or local.
	Profile string `yaml:"profile"`
}

// Listen holds the listen addresses.
type Listen struct {
	// GRPC is the address probes connect to ("host:port").
	GRPC string `yaml:"grpc"`
	// HTTP serves /metrics, /healthz, /readyz and /api ("host:port").
	HTTP string `yaml:"http"`
	// AdvertiseGRPC is the gRPC address (host:port) gossip tells probes to report
	// to (default: the gossip advertise address with the gRPC port).
	AdvertiseGRPC string `yaml:"advertise_grpc"`
}

// Defaults hold the per-rule defaults.
type Defaults struct {
	// Interval is the time between attempts on one path.
	Interval time.Duration `yaml:"interval"`
	// Timeout is the deadline of one attempt.
	Timeout time.Duration `yaml:"timeout"`
}

// Rule is one entry of the path policy: probes matching From measure the targets
// described by To with the given Kind.
type Rule struct {
	// Name labels the rule in logs and reports (default: derived from from/to).
	Name string `yaml:"name"`
	// From selects the probes that measure.
	From Selector `yaml:"from"`
	// To says what they measure.
	To Destination `yaml:"to"`
	// Kind is the probe kind: tcp, echo or dns.
	Kind string `yaml:"kind"`
	// Echo tunes kind echo (round trips, path-MTU checks, throughput bursts).
	Echo *EchoOptions `yaml:"echo"`
	// DNS tunes kind dns (the CIDRs the answers must fall in).
	DNS *DNSOptions `yaml:"dns"`
	// Interval overrides Defaults.Interval.
	Interval time.Duration `yaml:"interval"`
	// Timeout overrides Defaults.Timeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Selector selects probes by site and labels; every given field must match.
type Selector struct {
	// Site is the probe's site, e.g. "sql" or "mi".
	Site string `yaml:"site"`
	// Labels must all be present on the probe with these values.
	Labels map[string]string `yaml:"labels"`
}

// Destination is what a rule measures: either the probes a selector matches (at
// their responder address, or at Port on their host) or one static address.
type Destination struct {
	// Site and Labels select target probes (when Address is empty). When Address
	// is set, Site is only the `target_site` label of the static target
	// (default "external").
	Site   string            `yaml:"site"`
	Labels map[string]string `yaml:"labels"`
	// Address is a static host name or IP address, e.g. the MI's VNet-local FQDN.
	Address string `yaml:"address"`
	// Port is the TCP port: required with Address; with a probe selector it
	// replaces the probe's responder port (e.g. 5022 on the SQL Server host).
	Port int `yaml:"port"`
	// Name is the `target` label of a static target (default: Address).
	Name string `yaml:"name"`
	// Ports is a port range "low-high" instead of Port, e.g. "11000-11999" for
	// the MI nodes' HADR ports; Sample ports of it are tried each interval,
	// rotating. The path carries the range as its port label.
	Ports string `yaml:"ports"`
	// Sample is how many ports of the range each round tries (default 4).
	Sample int `yaml:"sample"`
	// RefusedOK counts a refused connection as the path working: the host
	// answered through every firewall, only nothing listened on that port.
	// Default: true for a port range, false for a single port.
	RefusedOK *bool `yaml:"refused_ok"`

	// PortEnd is the parsed end of Ports (Port holds its start); set by validation.
	PortEnd int `yaml:"-"`
}

// Default returns the configuration used for every field a file leaves out.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Name: host,
		Listen: Listen{
			GRPC: ":7022",
			HTTP: ":9022",
		},
		Defaults: Defaults{
			Interval: 30 * time.Second,
			Timeout:  5 * time.Second,
		},
		StaleAfter:   45 * time.Second,
		MaxClockSkew: 10 * time.Minute,
		ForgetAfter:  7 * 24 * time.Hour,
		Gossip:       Gossip{Bind: ":7946", Profile: "wan"},
		State:        State{SnapshotInterval: time.Second},
		Limits: Limits{
			MaxPaths:                  10000,
			MaxConnections:            4096,
			MaxConnectionsPerProbe:    4,
			MaxPlanStreamsPerProbe:    4,
			ResultsPerSecondPerProbe:  2000,
			RequestsPerSecondPerProbe: 50,
			MaxProbes:                 10000,
			MaxPathsPerProbe:          1000,
		},
		CheckRounds: DefaultCheckRounds(),
		Metrics:     Metrics{RTTHistogram: RTTHistogramNone},
	}
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration file's contents; file names the
// source in error messages.
func Parse(file string, data []byte) (*Config, error) {
	cfg := Default()
	if _, err := os.Stat(file); err == nil {
		cfg.dir = filepath.Dir(file)
	}
	doc, err := yamlconf.Decode(file, data, &cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(doc); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// OrDefault returns l with every zero field replaced by its default, for configs
// built in code rather than parsed.
func (l Limits) OrDefault() Limits {
	d := Default().Limits
	for _, f := range []struct{ v, d *int }{
		{&l.MaxPaths, &d.MaxPaths},
		{&l.MaxConnections, &d.MaxConnections}, {&l.MaxConnectionsPerProbe, &d.MaxConnectionsPerProbe},
		{&l.MaxPlanStreamsPerProbe, &d.MaxPlanStreamsPerProbe}, {&l.ResultsPerSecondPerProbe, &d.ResultsPerSecondPerProbe},
		{&l.RequestsPerSecondPerProbe, &d.RequestsPerSecondPerProbe}, {&l.MaxProbes, &d.MaxProbes},
		{&l.MaxPathsPerProbe, &d.MaxPathsPerProbe},
	} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	return l
}

// ResponderAllowed reports whether a responder host may be registered by a
// probe whose connection comes from peer: it is peer itself, or lies in one
// of responder_cidrs. IPv4-mapped addresses and IPv6 zones are ignored.
func (c *Config) ResponderAllowed(host, peer netip.Addr) bool {
	host = host.Unmap().WithZone("")
	if peer.IsValid() && host == peer.Unmap().WithZone("") {
		return true
	}
	nets := c.responderNets
	if nets == nil && len(c.ResponderCIDRs) > 0 { // a config built in code
		nets = parseCIDRs(c.ResponderCIDRs)
	}
	for _, n := range nets {
		if n.Contains(host) {
			return true
		}
	}
	return false
}

// parseCIDRs parses the valid entries of cidrs (validation reports the others).
func parseCIDRs(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}
