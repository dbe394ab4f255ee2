package config

import (
	"strings"
	"testing"
)

// TestWarningsShortTimeout: a tcp or echo timeout too short to see a SYN
// retransmission is allowed (the config loads) but warned about, naming the
// line and the field; a dns rule's timeout is not.
func TestWarningsShortTimeout(t *testing.T) {
	const cfg = `
paths:
  - {from: {site: sql}, to: {site: mi, port: 5022}, timeout: 1s}
  - {from: {site: sql}, to: {site: mi}, kind: echo, timeout: 2s}
  - {from: {site: sql}, to: {site: mi, port: 5023}, timeout: 4s}
  - {from: {site: sql}, to: {address: mi.example, site: mi}, kind: dns, timeout: 500ms}
`
	c, err := Parse("coordinator.yaml", []byte("mesh_key_file: k\n"+cfg))
	if err != nil {
		t.Fatalf("Parse: %v (a short timeout must not be refused)", err)
	}
	w := c.Warnings()
	if len(w) != 2 {
		t.Fatalf("got %d warnings, want 2 (rules 0 and 1):\n%s", len(w), strings.Join(w, "\n"))
	}
	for i, want := range []string{"coordinator.yaml:4: paths[0].timeout: 1s is too short for any probe", "coordinator.yaml:5: paths[1].timeout: 2s is too short for probes on Windows"} {
		if !strings.HasPrefix(w[i], want) {
			t.Errorf("warning %d: %q, want it to start with %q", i, w[i], want)
		}
		if !strings.Contains(w[i], "SYN retransmission") || !strings.Contains(w[i], "4s or more") {
			t.Errorf("warning %d: %q does not say why and what to use", i, w[i])
		}
	}
}
