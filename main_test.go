package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunExitCodes checks what a user sees for the commands that end at once.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("paths:\n  - from: {site: sql}\n    to: {address: mi.example.net, port: 70000}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string
		wantStderr string
	}{
		{"no command", nil, 2, "", "usage: linkmesh"},
		{"help", []string{"help"}, 0, "", "commands:"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "linkmesh ", ""},
		{"coordinator without config", []string{"coordinator", "--insecure"}, 2, "", "--config FILE is required"},
		{"coordinator bad config", []string{"coordinator", "--config", bad, "--insecure"}, 2, "", "bad.yaml:3: paths[0].to.port: 70000 is not a TCP port"},
		{"coordinator check example", []string{"coordinator", "--config", "deploy/examples/coordinator.yaml", "--check-config"}, 0, "coordinator.yaml: ok", ""},
		{"coordinator needs --insecure", []string{"coordinator", "--config", "deploy/examples/coordinator.yaml"}, 2, "", "pass --insecure"},
		{"probe without site", []string{"probe", "--coordinator", "127.0.0.1:1", "--insecure"}, 2, "", "--site"},
		{"probe without coordinator", []string{"probe", "--site", "sql", "--insecure"}, 2, "", "--coordinator"},
		{"probe bad label", []string{"probe", "--site", "sql", "--label", "novalue"}, 2, "", "not key=value"},
		{"probe unknown flag", []string{"probe", "--sight", "sql"}, 2, "", "flag provided but not defined: -sight"},
		{"demo bad interval", []string{"demo", "--interval", "1ms"}, 2, "", "--interval"},
		{"demo help", []string{"demo", "-h"}, 0, "", "-duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr: %s)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantStderr)
			}
			if strings.Contains(stderr.String(), "goroutine ") {
				t.Errorf("stderr has a stack trace:\n%s", stderr.String())
			}
		})
	}
}
