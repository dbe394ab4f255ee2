package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigCoordinatorName: `linkmesh coordinator --check-config` fails
// on a coordinator name that breaks the probe-name rule, naming file, line
// and field (it used to say ok, and the coordinator then refused every probe's
// report).
func TestCheckConfigCoordinatorName(t *testing.T) {
	file := filepath.Join(t.TempDir(), "coord.yaml")
	if err := os.WriteFile(file, []byte("name: \"coord one\"\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"coordinator", "--config", file, "--check-config"}, &stdout, &stderr)
	if want := `coord.yaml:1: name: "coord one"`; code != 2 || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit code %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
}
