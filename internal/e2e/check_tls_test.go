package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/internal/cli"
)

// TestCheckCoordinatedOverMTLS runs `linkmesh check --coordinator` in process
// against a coordinator that serves mTLS only, as deployed: with an operator's
// certificate and --probe sql1 the round runs; with the sql probe's own
// certificate the coordinator refuses it (exit code 2, saying an operator's
// certificate is needed); with a certificate from another CA it is a one-line
// error, exit code 2, before any row runs. Everything is on loopback; the endpoint port is a free one, so the
// round's stand-in binds nothing anyone else uses.
func TestCheckCoordinatedOverMTLS(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	logs := &logBuffer{}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := free.Addr().String()
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	coord := startTLSMesh(t, p, logs, fmt.Sprintf("check_rounds: {sql_ports: [%d]}\n", port), uint32(port))
	sql1 := p.files("sql1")
	alice := p.operator(t, "alice")
	base := []string{"--mi", "127.0.0.1", "--hadr-sample", "1", "--timeout", "2s", "--sql-endpoint", endpoint,
		"--coordinator", coord.GRPCAddr().String(), "--tls-ca", p.server.CA}

	var stdout, stderr bytes.Buffer
	code := cli.Exit(cli.Check(t.Context(), append(base, "--tls-cert", alice.Cert, "--tls-key", alice.Key, "--probe", "sql1", "--output", "json"), &stdout, &stderr), &stderr)
	var report struct {
		Mode       string `json:"mode"`
		ExitCode   int    `json:"exit_code"`
		Incomplete string `json:"incomplete"`
		Inputs     struct {
			Probe string `json:"probe"`
			Peer  string `json:"peer"`
		} `json:"inputs"`
		Rows []checkRow `json:"rows"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("exit %d; stderr:\n%s", code, stderr.String())
	if report.Mode != "coordinated" || report.Incomplete != "" || report.Inputs.Probe != "sql1" || report.Inputs.Peer != "mi1" || report.ExitCode != code {
		t.Errorf("report: mode %q, incomplete %q, probe %q, peer %q, exit_code %d (process %d): want the round run by sql1 with mi1",
			report.Mode, report.Incomplete, report.Inputs.Probe, report.Inputs.Peer, report.ExitCode, code)
	}
	rows := map[string]checkRow{}
	for _, r := range report.Rows {
		rows[r.ID] = r
	}
	// Nothing listened on the endpoint port: the stand-in answered there, and
	// mi1's echo through it proves the path (here: loopback).
	if p3 := rows["P3"]; p3.Status != "pass" || !strings.Contains(p3.Measured, "echo through the stand-in") {
		t.Errorf("P3 %+v, want a pass through the stand-in", p3)
	}
	if si := rows["standin"]; si.Status != "warn" || si.Measured != "used, then released" {
		t.Errorf("stand-in %+v, want used and released", si)
	}
	if mtu := rows["MTU"]; mtu.Status != "pass" {
		t.Errorf("MTU %+v, want pass on loopback", mtu)
	}

	stdout.Reset()
	stderr.Reset()
	code = cli.Exit(cli.Check(t.Context(), append(base, "--tls-cert", sql1.Cert, "--tls-key", sql1.Key), &stdout, &stderr), &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "check rounds need an operator certificate") {
		t.Errorf("the probe's own certificate: exit %d, stderr:\n%s\nwant exit 2 saying an operator's certificate is needed", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code = cli.Exit(cli.Check(t.Context(), append(base, "--tls-cert", alice.Cert, "--tls-key", alice.Key), &stdout, &stderr), &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "name the probe on the SQL Server host with --probe") {
		t.Errorf("an operator's certificate without --probe: exit %d, stderr:\n%s", code, stderr.String())
	}

	other := newPKI(t, "127.0.0.1")
	foreign := other.probe(t, "sql1")
	stdout.Reset()
	stderr.Reset()
	code = cli.Exit(cli.Check(t.Context(), append(base[:len(base)-2], "--tls-ca", foreign.CA, "--tls-cert", foreign.Cert, "--tls-key", foreign.Key), &stdout, &stderr), &stderr)
	if code != 2 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "gRPC did not come up") || !strings.Contains(stderr.String(), "--tls-ca") {
		t.Errorf("certificate of another CA: exit %d, stdout %q, stderr:\n%s\nwant exit 2 with one line naming the TLS flags", code, stdout.String(), stderr.String())
	}
}
