package config

import (
	"strings"
	"testing"
)

// TestConfigCoordinatorNameInvalid: the coordinator's name follows the rule
// Register applies to probe names (it becomes a label value, and gossip and
// the probes' reports carry it as "coordinator:NAME"); a name that breaks it
// is refused with file, line and field, as --check-config shows.
func TestConfigCoordinatorNameInvalid(t *testing.T) {
	if _, err := Load("testdata/invalid-coordinator-name.yaml"); err == nil ||
		!strings.Contains(err.Error(), `invalid-coordinator-name.yaml:3: name: "coord one"`) {
		t.Errorf("Load: got %v, want file:3: name: \"coord one\" ...", err)
	}
	const policy = "paths:\n  - {from: {site: sql}, to: {site: mi}}\n"
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"coord1", true},
		{"coord-1.dc_a", true},
		{strings.Repeat("c", 63), true},
		{"coord one", false},
		{"coordinator:c1", false},
		{"c1\nfake_metric 1", false},
		{"-c1", false},
		{strings.Repeat("c", 64), false},
		{"", false},
	} {
		text := "name: " + quote(tt.name) + "\n" + policy
		_, err := Parse("c.yaml", []byte(text))
		if tt.ok && err != nil {
			t.Errorf("name %q: got %v, want valid", tt.name, err)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "c.yaml:1: name: ")) {
			t.Errorf("name %q: got %v, want c.yaml:1: name: ...", tt.name, err)
		}
	}
}

// quote renders s as a YAML double-quoted scalar.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
