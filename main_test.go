package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunExitCodes checks what a user sees for the commands that end at once.
func TestRunExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	meshKey := filepath.Join(dir, "mesh.key")
	if code := run([]string{"certs", "mesh-key", "--out", meshKey}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("certs mesh-key: exit %d", code)
	}
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
		{"help", []string{"help"}, 0, "commands:", ""},
		{"--help", []string{"--help"}, 0, "commands:", ""},
		{"--version", []string{"--version"}, 0, "linkmesh ", ""},
		{"version help", []string{"version", "-h"}, 0, "usage: linkmesh version", ""},
		{"service help", []string{"service", "--help"}, 0, "usage: linkmesh service install", ""},
		{"service on linux", []string{"service", "status"}, 2, "", "linkmesh service is for Windows"},
		{"service install without probe flags", []string{"service", "install"}, 2, "", "give the probe's flags after --"},
		{"version argument", []string{"version", "x"}, 2, "", `unexpected argument "x"`},
		{"certs probe help", []string{"certs", "probe", "-h"}, 0, "usage: linkmesh certs probe --name NAME --site SITE", ""},
		{"probe help", []string{"probe", "--help"}, 0, "usage: linkmesh probe --site SITE", ""},
		{"coordinator help", []string{"coordinator", "-h"}, 0, "usage: linkmesh coordinator --config FILE", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "linkmesh ", ""},
		{"coordinator without config", []string{"coordinator", "--insecure"}, 2, "", "--config FILE is required"},
		{"coordinator bad config", []string{"coordinator", "--config", bad, "--insecure"}, 2, "", "bad.yaml:3: paths[0].to.port: 70000 is not a TCP port"},
		{"coordinator check example", []string{"coordinator", "--config", "deploy/examples/coordinator.yaml", "--check-config", "--insecure", "--mesh-key-file", meshKey, "--state-dir", filepath.Join(dir, "state")}, 0, "coordinator.yaml: ok", ""},
		{"coordinator check without the files", []string{"coordinator", "--config", "deploy/examples/coordinator.yaml", "--check-config", "--tls-ca", filepath.Join(dir, "ca.crt"), "--tls-cert", filepath.Join(dir, "c.crt"), "--tls-key", filepath.Join(dir, "c.key"), "--mesh-key-file", filepath.Join(dir, "none.key"), "--state-dir", filepath.Join(bad, "state")}, 2, "", "none.key"},
		{"coordinator needs --insecure", []string{"coordinator", "--config", "deploy/examples/coordinator.yaml"}, 2, "", "pass --insecure"},
		{"probe without site", []string{"probe", "--coordinator", "127.0.0.1:1", "--insecure"}, 2, "", "--site"},
		{"probe without coordinator", []string{"probe", "--site", "sql", "--insecure"}, 2, "", "--coordinator"},
		{"probe bad label", []string{"probe", "--site", "sql", "--label", "novalue"}, 2, "", "not key=value"},
		{"probe sql dsn without metrics", []string{"probe", "--site", "sql", "--coordinator", "127.0.0.1:1", "--insecure", "--sql-dsn", "sqlserver://localhost?database=master"}, 2, "", "--sql-dsn needs --metrics"},
		{"probe sql interval too short", []string{"probe", "--site", "sql", "--coordinator", "127.0.0.1:1", "--insecure", "--metrics", "127.0.0.1:0", "--sql-dsn", "sqlserver://localhost?database=master", "--sql-interval", "1s"}, 2, "", "--sql-interval 1s: at least 5s"},
		{"probe bad sql dsn", []string{"probe", "--site", "sql", "--coordinator", "127.0.0.1:1", "--insecure", "--metrics", "127.0.0.1:0", "--sql-dsn", "SQLPROD01"}, 2, "", "--sql-dsn: bad connection string"},
		{"probe unknown flag", []string{"probe", "--sight", "sql"}, 2, "", "flag provided but not defined: -sight"},
		{"probe negative max-procs", []string{"probe", "--site", "sql", "--coordinator", "127.0.0.1:1", "--insecure", "--max-procs", "-1"}, 2, "", "--max-procs -1"},
		{"demo bad interval", []string{"demo", "--interval", "1ms"}, 2, "", "--interval"},
		{"demo help", []string{"demo", "-h"}, 0, "-duration", ""},
		{"check help", []string{"check", "-h"}, 0, "-mi-subnet", ""},
		{"check without mi", []string{"check"}, 2, "", "--mi is required"},
		{"check bad fqdn", []string{"check", "--mi", "sql_mi.abc.database.windows.net"}, 2, "", `"sql_mi" is not a valid DNS label`},
		{"check short name", []string{"check", "--mi", "sqlmi1"}, 2, "", "fully qualified"},
		{"check fqdn with port", []string{"check", "--mi", "sqlmi1.abc.database.windows.net:5022"}, 2, "", "without a port"},
		{"check bad cidr", []string{"check", "--mi", "mi.example.net", "--mi-subnet", "10.0.1.0/33"}, 2, "", "--mi-subnet \"10.0.1.0/33\": not a CIDR prefix"},
		{"check bad range", []string{"check", "--mi", "mi.example.net", "--hadr-ports", "11999-11000"}, 2, "", "--hadr-ports: port range"},
		{"check node port outside range", []string{"check", "--mi", "mi.example.net", "--mi-node", "node.example.net:1433"}, 2, "", "outside --hadr-ports"},
		{"check bad sample", []string{"check", "--mi", "mi.example.net", "--hadr-sample", "0"}, 2, "", "--hadr-sample 0"},
		{"check bad size", []string{"check", "--mi", "mi.example.net", "--database-size", "500"}, 2, "", "--database-size: size \"500\""},
		{"check bad unit", []string{"check", "--mi", "mi.example.net", "--database-size", "5XB"}, 2, "", "unknown unit"},
		{"check bad output", []string{"check", "--mi", "mi.example.net", "--output", "yaml"}, 2, "", "--output \"yaml\""},
		{"check bad endpoint", []string{"check", "--mi", "mi.example.net", "--sql-endpoint", "127.0.0.1:0"}, 2, "", "--sql-endpoint"},
		{"check bad dns server", []string{"check", "--mi", "mi.example.net", "--dns-server", "dns.example.net"}, 2, "", "give the DNS server's IP address"},
		{"check bad timeout", []string{"check", "--mi", "mi.example.net", "--timeout", "1ms"}, 2, "", "--timeout"},
		// None of these dial: each is refused before the coordinator is reached.
		{"check coordinated without TLS flags", []string{"check", "--mi", "mi.example.net", "--coordinator", "coord.example.net:7022"}, 2, "", "give all of --tls-ca, --tls-cert and --tls-key"},
		{"check coordinator not host:port", []string{"check", "--mi", "mi.example.net", "--coordinator", "coord.example.net", "--insecure"}, 2, "", "give the coordinator's gRPC address as host:port"},
		{"check coordinated flag alone", []string{"check", "--mi", "mi.example.net", "--peer", "mi1"}, 2, "", "--peer: only with --coordinator"},
		{"check insecure and TLS", []string{"check", "--mi", "mi.example.net", "--coordinator", "coord.example.net:7022", "--insecure", "--tls-ca", "ca.crt"}, 2, "", "exclude each other"},
		{"check bad sql host", []string{"check", "--mi", "mi.example.net", "--coordinator", "coord.example.net:7022", "--insecure", "--sql-host", "bad_host!"}, 2, "", "--sql-host"},
		{"check malformed dsn", []string{"check", "--mi", "mi.example.net", "--sql-dsn", "server=x;port=abc;password=s3cr3t"}, 2, "", "--sql-dsn: bad connection string"},
		{"check dsn not a dsn", []string{"check", "--mi", "mi.example.net", "--sql-dsn", "SQLPROD01"}, 2, "", "--sql-dsn: bad connection string"},
		{"check mi dsn not a dsn", []string{"check", "--mi", "mi.example.net", "--mi-dsn", "MIHOST"}, 2, "", "--mi-dsn: bad connection string"},
		{"check agent test without mi dsn", []string{"check", "--mi", "mi.example.net", "--mi-agent-test"}, 2, "", "--mi-agent-test needs --mi-dsn"},
		{"check agent test without sql host", []string{"check", "--mi", "mi.example.net", "--mi-dsn", "sqlserver://u:p@mi.example.net?database=master", "--mi-agent-test"}, 2, "", "--mi-agent-test needs --sql-host IP"},
		{"check agent test with a host name", []string{"check", "--mi", "mi.example.net", "--mi-dsn", "sqlserver://u:p@mi.example.net?database=master", "--mi-agent-test", "--sql-host", "sqlprod01.contoso.com"}, 2, "", "--mi-agent-test needs --sql-host IP"},
		{"check agent test to loopback", []string{"check", "--mi", "mi.example.net", "--mi-dsn", "sqlserver://u:p@mi.example.net?database=master", "--mi-agent-test", "--sql-host", "127.0.0.1"}, 2, "", "would be tested on the MI itself"},
		{"check sql host without agent test", []string{"check", "--mi", "mi.example.net", "--sql-host", "10.0.0.4"}, 2, "", "--sql-host: only with --coordinator"},
		{"check databases without dsn", []string{"check", "--mi", "mi.example.net", "--databases", "Sales"}, 2, "", "--databases needs --sql-dsn"},
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
			if tt.wantCode == 2 && strings.HasPrefix(tt.name, "check ") && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("a usage error is one line; stderr:\n%s", stderr.String())
			}
			if strings.Contains(stderr.String(), "s3cr3t") {
				t.Errorf("stderr repeats the password: %s", stderr.String())
			}
		})
	}
}

// TestCertsAndProbeIdentity: `linkmesh certs` makes a CA and certificates a user
// can start with, and a probe refuses to start under a name its certificate does
// not carry, saying which certificate to issue.
func TestCertsAndProbeIdentity(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"certs", "ca", "--dir", dir}, 0, "ca.crt"},
		{[]string{"certs", "ca", "--dir", dir}, 1, "exists; refusing to replace it"},
		{[]string{"certs", "server", "--dir", dir, "--name", "coord-1"}, 2, "--san"},
		{[]string{"certs", "server", "--dir", dir, "--name", "coord-1", "--san", "coord.example.net,127.0.0.1"}, 0, "coord-1.crt"},
		{[]string{"certs", "probe", "--dir", dir, "--name", "sql01", "--site", "sql"}, 0, "--name sql01"},
		{[]string{"certs", "probe", "--dir", dir, "--name", "sql02"}, 2, "--site is required"},
		{[]string{"certs", "operator", "--dir", dir, "--name", "alice"}, 0, "--tls-cert alice.crt"},
		{[]string{"certs", "probe", "--dir", dir, "--name", "bad name", "--site", "sql"}, 2, "use 1-63 letters"},
		{[]string{"certs", "mesh-key", "--out", filepath.Join(dir, "mesh.key")}, 0, "mesh.key"},
		{[]string{"certs", "frob"}, 2, `unknown "frob"`},
		{[]string{"probe", "--site", "sql", "--name", "mi01", "--coordinator", "127.0.0.1:1", "--mesh-key-file", filepath.Join(dir, "mesh.key"),
			"--tls-ca", filepath.Join(dir, "ca.crt"), "--tls-cert", filepath.Join(dir, "sql01.crt"), "--tls-key", filepath.Join(dir, "sql01.key")},
			2, `is for probe "sql01", but --name is "mi01"`},
		{[]string{"probe", "--site", "sql", "--name", "sql01", "--coordinator", "127.0.0.1:1", "--no-gossip", "--tls-ca", filepath.Join(dir, "ca.crt")}, 2, "--tls-cert"},
		{[]string{"probe", "--site", "sql", "--name", "sql01", "--coordinator", "127.0.0.1:1", "--insecure", "--tls-ca", filepath.Join(dir, "ca.crt")}, 2, "exclude each other"},
		{[]string{"coordinator", "--config", "deploy/examples/coordinator.yaml", "--insecure",
			"--tls-ca", filepath.Join(dir, "ca.crt"), "--tls-cert", filepath.Join(dir, "coord-1.crt"), "--tls-key", filepath.Join(dir, "coord-1.key")},
			2, "exclude each other"},
		{[]string{"coordinator", "--config", "deploy/examples/coordinator.yaml", "--tls-ca", filepath.Join(dir, "ca.crt")}, 2, "--tls-cert"},
	}
	for _, s := range steps {
		var stdout, stderr bytes.Buffer
		code := run(s.args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != s.wantCode || !strings.Contains(out, s.want) {
			t.Errorf("linkmesh %s: exit %d, output %q; want exit %d and %q", strings.Join(s.args, " "), code, out, s.wantCode, s.want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "sql01.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("probe key mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

// TestCheckLoginFailureIsARow: a DSN that parses but cannot log in fails the
// sql.login row (exit code 1), it is not a usage error. Everything stays on
// loopback: --mi is 127.0.0.1 and the DSN names a closed loopback port.
func TestCheckLoginFailureIsARow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var stdout, stderr bytes.Buffer
	code := run([]string{"check", "--mi", "127.0.0.1", "--sql-endpoint", "none", "--timeout", "2s", "--output", "json",
		"--sql-dsn", fmt.Sprintf("sqlserver://linkmesh:s3cr3t@127.0.0.1:%d?database=master&dial+timeout=2", closed)}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1 (stderr: %s)", code, stderr.String())
	}
	var report struct {
		Rows []struct {
			ID, Status, Reason string
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
	}
	found := false
	for _, r := range report.Rows {
		if r.ID == "sql.login" {
			found = true
			if r.Status != "fail" || r.Reason == "" {
				t.Errorf("sql.login %+v, want fail with the reason", r)
			}
		}
	}
	if !found {
		t.Errorf("no sql.login row in %s", stdout.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), "s3cr3t") {
		t.Error("the report or the progress repeats the password")
	}
	if !strings.Contains(stderr.String(), "[") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
}
