package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/linkmesh/linkmesh/internal/cli"
)

// holdListener listens on addr and keeps every connection it accepts open
// until the client closes it, like SQL Server's endpoint (an endpoint that
// closes at once would look like a proxy refusing the client). It returns the
// listener's address; everything ends at the test's cleanup.
func holdListener(t *testing.T, addr string) (string, error) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, c) // until the client closes
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), nil
}

// loopbackMI listens on 127.0.0.N:5022 — the MI's port, which check does not
// let one change — for an N no other test is likely to use, and returns the
// address. It skips the test where only 127.0.0.1 is a loopback address.
func loopbackMI(t *testing.T) string {
	t.Helper()
	var last error
	for i := range 16 {
		ip := fmt.Sprintf("127.0.%d.%d", 100+i, 2+os.Getpid()%250)
		if _, last = holdListener(t, ip+":5022"); last == nil {
			return ip
		}
	}
	t.Skipf("no loopback address to listen on port 5022 at: %v", last)
	return ""
}

// checkReport is the JSON report's header (the fields this test reads).
type checkReport struct {
	Mode       string     `json:"mode"`
	Verdict    string     `json:"verdict"`
	Ready      bool       `json:"ready"`
	ExitCode   int        `json:"exit_code"`
	Untested   []string   `json:"untested"`
	ToComplete string     `json:"to_complete"`
	Rows       []checkRow `json:"rows"`
}

// TestCheckStandaloneVerdict runs the real `linkmesh check` path in process,
// standalone, against listeners on loopback that stand for the MI, an MI
// node's HADR port and SQL Server's endpoint. Every row this host can test
// passes, but P3 and MTU need a probe in the MI's VNet (and D1 a name, not an
// address): the verdict is PARTIAL, exit code 3, in every output format —
// never READY. With the endpoint down too, a failure beats the skips: NOT
// READY, exit code 1.
func TestCheckStandaloneVerdict(t *testing.T) {
	mi := loopbackMI(t)
	node, err := holdListener(t, mi+":0")
	if err != nil {
		t.Fatal(err)
	}
	_, nodePort, _ := net.SplitHostPort(node)
	endpoint, err := holdListener(t, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"--mi", mi, "--mi-node", node, "--hadr-ports", nodePort + "-" + nodePort, "--timeout", "2s"}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := cli.Exit(cli.Check(t.Context(), append(append([]string{}, base...), args...), &stdout, &stderr), &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, out, errOut := run("--sql-endpoint", endpoint, "--output", "json")
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s\nstderr:\n%s", err, out, errOut)
	}
	status := map[string]string{}
	for _, r := range rep.Rows {
		status[r.ID] = r.Status
	}
	for id, want := range map[string]string{"D1": "skip", "P1": "pass", "P2": "pass", "EP": "pass", "P3": "skip", "MTU": "skip"} {
		if status[id] != want {
			t.Errorf("%s: %s, want %s (rows %v)", id, status[id], want, status)
		}
	}
	if code != 3 || rep.Verdict != "partial" || rep.Ready || rep.ExitCode != 3 || !slices.Equal(rep.Untested, []string{"D1", "P3", "MTU"}) {
		t.Errorf("exit %d, verdict %q, ready %v, exit_code %d, untested %v: want 3, partial, false, 3, [D1 P3 MTU]\nstderr:\n%s",
			code, rep.Verdict, rep.Ready, rep.ExitCode, rep.Untested, errOut)
	}
	for _, want := range []string{"--coordinator <host:port>", "only such a probe can test P3 and MTU", "D1 was skipped (--mi is an address"} {
		if !strings.Contains(rep.ToComplete, want) {
			t.Errorf("to_complete %q lacks %q", rep.ToComplete, want)
		}
	}
	if !strings.Contains(errOut, "linkmesh: partial: every required row that ran passed, but D1, P3, MTU did not run") {
		t.Errorf("stderr lacks the one-line verdict:\n%s", errOut)
	}

	code, out, _ = run("--sql-endpoint", endpoint)
	if code != 3 || !strings.Contains(out, "\nPARTIAL: every required row that ran passed, but D1, P3 and MTU did not run") ||
		!strings.Contains(out, "Verdict partial, exit code 3.\nTo complete it, run the same command with --coordinator") || strings.Contains(out, "\nREADY") {
		t.Errorf("table: exit %d, want 3, PARTIAL and what to run to complete it:\n%s", code, out)
	}

	code, out, _ = run("--sql-endpoint", endpoint, "--output", "junit")
	var suites struct {
		Suites []struct {
			Properties []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil || len(suites.Suites) != 1 {
		t.Fatalf("junit: %v\n%s", err, out)
	}
	props := map[string]string{}
	for _, p := range suites.Suites[0].Properties {
		props[p.Name] = p.Value
	}
	if code != 3 || props["verdict"] != "partial" || props["ready"] != "false" || props["exit_code"] != "3" {
		t.Errorf("junit: exit %d, properties %v: want 3 and verdict partial", code, props)
	}

	// The endpoint is down: EP fails, and a failure beats the rows that did
	// not run.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := closed.Addr().String()
	closed.Close()
	code, out, errOut = run("--sql-endpoint", down, "--output", "json")
	rep = checkReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if code != 1 || rep.Verdict != "not_ready" || rep.Ready || rep.ExitCode != 1 || !strings.Contains(errOut, "not ready: EP failed") {
		t.Errorf("endpoint down: exit %d, verdict %q, ready %v, exit_code %d: want 1, not_ready, false, 1\nstderr:\n%s", code, rep.Verdict, rep.Ready, rep.ExitCode, errOut)
	}
}
