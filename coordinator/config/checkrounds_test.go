package config

import (
	"slices"
	"strings"
	"testing"
)

const checkRoundsBase = `
paths:
  - {from: {site: sql}, to: {site: mi}}
`

// TestCheckRoundsDefaults: a file without check_rounds gets the documented
// defaults; a list given replaces its default.
func TestCheckRoundsDefaults(t *testing.T) {
	c, err := Parse("c.yaml", []byte(checkRoundsBase))
	if err != nil {
		t.Fatal(err)
	}
	cr := c.CheckRounds
	if cr.RoundsPerMinute != 1 || cr.Burst != 3 || cr.MaxBurstBytes != 64<<20 || !slices.Equal(cr.SQLPorts, []int{5022}) || len(cr.AllowProbes) != 0 {
		t.Errorf("defaults %+v", cr)
	}
	c, err = Parse("c.yaml", []byte(checkRoundsBase+"check_rounds: {sql_ports: [5023], allow_probes: [sql01], sql_host_names: {sql01: [sql01.corp.example]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cr = c.CheckRounds
	if !slices.Equal(cr.SQLPorts, []int{5023}) || !cr.AllowsPort(5023) || cr.AllowsPort(5022) || !cr.AllowsProbe("sql01") || !cr.HostNamed("sql01", "SQL01.corp.example.") || cr.HostNamed("mi01", "sql01.corp.example") {
		t.Errorf("given %+v", cr)
	}
	if got := (CheckRounds{}).OrDefault(); got.RoundsPerMinute != 1 || got.Burst != 3 || !slices.Equal(got.SQLPorts, []int{5022}) {
		t.Errorf("OrDefault %+v", got)
	}
}

// TestCheckRoundsInvalid: each bad check_rounds value is refused with its
// line and field.
func TestCheckRoundsInvalid(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"check_rounds: {rounds_per_minute: 0}", "c.yaml:4: check_rounds.rounds_per_minute: 0 is out of range"},
		{"check_rounds: {burst: 1000}", "check_rounds.burst: 1000 is out of range"},
		{"check_rounds: {max_burst_bytes: 2147483648}", "check_rounds.max_burst_bytes: 2147483648 is out of range"},
		{"check_rounds: {sql_ports: [70000]}", "check_rounds.sql_ports[0]: 70000 is not a TCP port"},
		{"check_rounds: {sql_ports: []}", "check_rounds.sql_ports: give 1 to 16 ports"},
		{"check_rounds: {allow_probes: [\"sql 01\"]}", `check_rounds.allow_probes[0]: "sql 01" is not a probe name`},
		{"check_rounds: {sql_host_names: {sql01: [\"bad host\"]}}", `"bad host" is not a host name or IP address`},
	} {
		_, err := Parse("c.yaml", []byte(checkRoundsBase+tt.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.yaml, err, tt.want)
		}
	}
}
