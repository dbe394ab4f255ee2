package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadValid(t *testing.T) {
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := len(cfg.Paths), 7; got != want {
		t.Fatalf("rules: got %d, want %d", got, want)
	}
	p1 := cfg.Paths[0]
	if p1.Interval != 30*time.Second || p1.Timeout != 2*time.Second {
		t.Errorf("rule 0 timing: got %v/%v, want 30s/2s (timeout from defaults)", p1.Interval, p1.Timeout)
	}
	if p1.Kind != "tcp" || p1.To.Name != "mi1.abc123.database.windows.net" || p1.To.Site != "mi" {
		t.Errorf("rule 0 defaults: got kind %q name %q site %q", p1.Kind, p1.To.Name, p1.To.Site)
	}
	if got := cfg.Paths[3].Name; got != "p3" {
		t.Errorf("rule 3 name: got %q, want p3", got)
	}
	if got := cfg.Paths[1].Name; got != "sql->mi/tcp" {
		t.Errorf("rule 1 default name: got %q, want sql->mi/tcp", got)
	}
	if cfg.StaleAfter != 45*time.Second {
		t.Errorf("stale_after default: got %v", cfg.StaleAfter)
	}
	if cfg.MaxClockSkew != 10*time.Minute {
		t.Errorf("max_clock_skew default: got %v", cfg.MaxClockSkew)
	}
	echo := cfg.Paths[4].Echo
	if echo == nil || echo.Rounds != 20 || *echo.MTUEvery != 10*time.Minute || echo.BurstBytes != 16<<20 || echo.BurstTime != 10*time.Second {
		t.Errorf("rule 4 echo options: got %+v", echo)
	}
	def := cfg.Paths[5].Echo
	if def == nil || def.Rounds != DefaultRounds || *def.MTUEvery != DefaultMTUEvery || def.BurstBytes != 0 {
		t.Errorf("rule 5 echo defaults: got %+v; want 10 rounds, mtu every 5m, no burst", def)
	}
	if d := cfg.Paths[6]; d.Kind != "dns" || d.DNS == nil || len(d.DNS.ExpectCIDRs) != 1 || d.To.Port != 0 {
		t.Errorf("rule 6 dns: got %+v", d)
	}
	if cfg.Limits != Default().Limits || cfg.State.SnapshotInterval != time.Second || cfg.TLS != (TLS{}) {
		t.Errorf("defaults of limits/state/tls: got %+v %+v %+v", cfg.Limits, cfg.State, cfg.TLS)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true}, {"4096", 4096, true}, {"16MiB", 16 << 20, true}, {"10MB", 10e6, true},
		{"1 GiB", 1 << 30, true}, {"2KB", 2000, true}, {"lots", 0, false}, {"-1", 0, false}, {"1.5GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestEvery(t *testing.T) {
	tests := []struct {
		period, interval time.Duration
		want             uint32
	}{
		{0, time.Second, 0}, {5 * time.Minute, 30 * time.Second, 10}, {time.Minute, 25 * time.Second, 3}, {time.Second, time.Minute, 1},
	}
	for _, tt := range tests {
		if got := Every(tt.period, tt.interval); got != tt.want {
			t.Errorf("Every(%v, %v) = %d, want %d", tt.period, tt.interval, got, tt.want)
		}
	}
}

// TestRelativePaths: tls files and the state dir are relative to the config file.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "coord.crt", "coord.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "c.yaml")
	data := "paths: [{from: {site: sql}, to: {site: mi}}]\ntls: {ca: ca.crt, cert: coord.crt, key: coord.key}\nstate: {dir: state}\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.Key != filepath.Join(dir, "coord.key") || cfg.State.Dir != filepath.Join(dir, "state") {
		t.Errorf("got tls %+v state %q; want paths under %s", cfg.TLS, cfg.State.Dir, dir)
	}
}

// TestLoadBadConfigs: every invalid-*.yaml fails with the file, the line and the
// words that tell the user what to fix.
func TestLoadBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"invalid-unknown-field.yaml", []string{"invalid-unknown-field.yaml:5:", `unknown field "too"`}},
		{"invalid-wrong-type.yaml", []string{"invalid-wrong-type.yaml:2:", `"often"`, "duration"}},
		{"invalid-bad-port.yaml", []string{"invalid-bad-port.yaml:5:", "paths[0].to.port", "70000", "1 to 65535"}},
		{"invalid-bad-listen.yaml", []string{"invalid-bad-listen.yaml:2:", "listen.grpc", "host:port"}},
		{"invalid-empty-policy.yaml", []string{"invalid-empty-policy.yaml:3:", "paths", "empty"}},
		{"invalid-duplicate-rule.yaml", []string{"invalid-duplicate-rule.yaml:6:", "paths[2]", "duplicates paths[0] (line 2)"}},
		{"invalid-bad-address.yaml", []string{"invalid-bad-address.yaml:3:", "paths[0].to.address", "port in port:"}},
		{"invalid-no-target.yaml", []string{"invalid-no-target.yaml:3:", "paths[0].to", "names no target"}},
		{"invalid-timeout-over-interval.yaml", []string{"invalid-timeout-over-interval.yaml:5:", "paths[0].timeout", "no longer than the interval"}},
		{"invalid-unknown-kind.yaml", []string{"invalid-unknown-kind.yaml:4:", `unknown kind "icmp"`, "tcp"}},
		{"invalid-empty.yaml", []string{"invalid-empty.yaml", "no settings"}},
		{"invalid-echo-options-on-tcp.yaml", []string{"invalid-echo-options-on-tcp.yaml:5:", "paths[0].echo", "need kind: echo"}},
		{"invalid-echo-rounds.yaml", []string{"invalid-echo-rounds.yaml:6:", "paths[0].echo.rounds", "500", "1 to 100"}},
		{"invalid-burst-size.yaml", []string{"invalid-burst-size.yaml:6:", "paths[0].echo.burst", `"lots"`, "16MiB"}},
		{"invalid-burst-time-over-timeout.yaml", []string{"invalid-burst-time-over-timeout.yaml:8:", "paths[0].echo.burst_time", "timeout (5s)", "at least 15s"}},
		{"invalid-mtu-every.yaml", []string{"invalid-mtu-every.yaml:7:", "paths[0].echo.mtu_every", "0 (no path-MTU checks)"}},
		{"invalid-dns-cidr.yaml", []string{"invalid-dns-cidr.yaml:6:", "paths[0].dns.expect_cidrs[1]", "10.1.3.0/33", "not a CIDR"}},
		{"invalid-dns-ip-address.yaml", []string{"invalid-dns-ip-address.yaml:5:", "paths[0].to.address", "needs a host name"}},
		{"invalid-dns-port.yaml", []string{"invalid-dns-port.yaml:3:", "paths[0].to.port", "uses no port"}},
		{"invalid-syntax.yaml", []string{"invalid-syntax.yaml:"}},
		{"invalid-tls-partial.yaml", []string{"invalid-tls-partial.yaml:5:", "tls.cert is missing", "linkmesh certs"}},
		{"invalid-tls-missing-file.yaml", []string{"invalid-tls-missing-file.yaml:7:", "tls.key", "no-such-file.key"}},
		{"invalid-limits.yaml", []string{"invalid-limits.yaml:5:", "limits.max_connections: 0 is out of range", "invalid-limits.yaml:6:", "limits.results_per_second_per_probe"}},
		{"invalid-snapshot-interval.yaml", []string{"invalid-snapshot-interval.yaml:6:", "state.snapshot_interval", "100ms to 1m"}},
		{"invalid-clock-skew.yaml", []string{"invalid-clock-skew.yaml:1:", "max_clock_skew", "1s to 24h"}},
		{"invalid-range-reversed.yaml", []string{"invalid-range-reversed.yaml:5:", "paths[0].to.ports", "reversed", "lower port first"}},
		{"invalid-range-outside.yaml", []string{"invalid-range-outside.yaml:3:", "outside 1-65535"}},
		{"invalid-coordinator-name.yaml", []string{"invalid-coordinator-name.yaml:3:", `name: "coord one"`, "letters, digits"}},
		{"invalid-range-and-port.yaml", []string{"invalid-range-and-port.yaml:3:", "either port or ports"}},
		{"invalid-range-sample.yaml", []string{"invalid-range-sample.yaml:4:", "paths[0].to.sample", "do not fit in the interval"}},
		{"invalid-unknown-selector.yaml", []string{"invalid-unknown-selector.yaml:2:", `unknown field "role"`}},
		{"invalid-bad-gossip.yaml", []string{"invalid-bad-gossip.yaml:2:", "gossip.profile", "satellite", "invalid-bad-gossip.yaml:3:", "gossip.join[0]"}},
		{"invalid-metrics.yaml", []string{"invalid-metrics.yaml:5:", "metrics.rtt_histogram", `"native"`, "none", "classic"}},
	}
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) != len(tests) {
		t.Errorf("testdata has %d invalid-*.yaml files, the table covers %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestPortRange(t *testing.T) {
	cfg, err := Parse("range.yaml", []byte(`
defaults: {interval: 30s, timeout: 5s}
paths:
  - {from: {site: sql}, to: {address: db1.tr1.westeurope.worker.database.windows.net, ports: "11000-11999", site: mi}}
  - {from: {site: sql}, to: {address: db1.tr1.westeurope.worker.database.windows.net, port: 11002, site: mi}}
`))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Paths[0].To
	if r.Port != 11000 || r.PortEnd != 11999 || r.Sample != 4 || r.RefusedOK == nil || !*r.RefusedOK {
		t.Errorf("range: got port %d-%d sample %d refused_ok %v, want 11000-11999, 4, true", r.Port, r.PortEnd, r.Sample, r.RefusedOK)
	}
	if one := cfg.Paths[1].To; one.RefusedOK != nil {
		t.Errorf("single port: refused_ok defaulted to %v, want unset (false)", *one.RefusedOK)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil && len(cfg.Paths) == 0 {
			t.Fatal("a config without paths was accepted")
		}
	})
}

// TestEveryErrorUpToABound: a config with many errors reports each (with its
// line) up to 20, then how many more.
func TestEveryErrorUpToABound(t *testing.T) {
	var b strings.Builder
	b.WriteString("paths:\n")
	for i := range 25 {
		fmt.Fprintf(&b, "  - {from: {site: sql}, to: {address: mi%d.example.net, port: %d}}\n", i, 70000+i)
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if n := strings.Count(msg, "is not a TCP port"); n != 20 || !strings.Contains(msg, "… and 5 more errors") || !strings.Contains(msg, "many.yaml:2:") || !strings.Contains(msg, "many.yaml:21:") {
		t.Errorf("%d port errors; want 20 with their lines, then \"… and 5 more errors\":\n%s", n, msg)
	}
}
