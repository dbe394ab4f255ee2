//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// wineEnv is the Wine to run linkmesh.exe with: $LINKMESH_WINE (wine64) and
// $WINEPREFIX, a prefix internal/winetest/setup.sh prepared (.ci/run does).
func wineEnv(t *testing.T) (wine string) {
	t.Helper()
	wine = os.Getenv("LINKMESH_WINE")
	if wine == "" || os.Getenv("WINEPREFIX") == "" {
		t.Skip("no Wine: apt-get install wine64 gcc-mingw-w64-x86-64-win32, WINEPREFIX=/tmp/linkmesh-wine internal/winetest/setup.sh, then set LINKMESH_WINE=/usr/lib/wine/wine64 and WINEPREFIX (.ci/run does)")
	}
	t.Setenv("WINEDEBUG", "-all")
	netlab.MarkRan(t)
	return wine
}

// buildWindows builds linkmesh.exe (GOOS=windows) into dir.
func buildWindows(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "linkmesh.exe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", exe, "github.com/linkmesh/linkmesh")
	cmd.Dir = "../.." // the module root, from internal/e2e
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, out)
	}
	return exe
}

// winPath is a Linux path as a Windows program under Wine names it (drive Z:
// is the Linux root).
func winPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// TestLabWindowsProbe: the Windows build, run under Wine as the sql site's
// probe in the lab's sql host, reports to the Linux coordinator in the
// router; tcp and echo are up both ways with the Linux probe in mi (the
// Windows probe measures and answers). Then linkmesh.exe check, run there
// against the lab's MI host, prints its table and its JSON report.
//
// Wine's limits shape the test (docs/benchmarks.md says what they hide): no
// UDP sockets, so the Windows probe runs with --no-gossip and check gets the
// MI as an address (D1, the DNS row, cannot run: PARTIAL); no SIO_TCP_INFO,
// so RTTs are connect times. On Windows itself both work.
func TestLabWindowsProbe(t *testing.T) {
	wine := wineEnv(t)
	lab := netlab.New(t)
	dir := t.TempDir()
	exe := buildWindows(t, dir)
	m := startLabMeshSites(t, lab, `
defaults: {interval: 2s, timeout: 2s}
stale_after: 15s
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
  - {name: tcp-back, from: {site: mi}, to: {site: sql}}
  - {name: echo, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-back, from: {site: mi}, to: {site: sql}, kind: echo, echo: {mtu_every: 0s}}
`, nil, "mi")
	sql := lab.SQL()
	coord := net.JoinHostPort(lab.Router().AddrToward(sql).String(), fmt.Sprint(labGRPC))
	startProcess(t, sql, "sql-probe-windows", wine, exe, "probe", "--name", "sql1", "--site", "sql",
		"--coordinator", coord, "--responder", fmt.Sprintf(":%d", labResponder), "--insecure", "--no-gossip",
		"--mesh-key-file", winPath(m.key), "--plan-cache", winPath(filepath.Join(dir, "plan.pb")),
		"--spool-dir", winPath(filepath.Join(dir, "spool")), "--log-level", "debug")
	s, took := m.wait(t, 60*time.Second, "tcp and echo up both ways with the Windows probe", func(s series) bool {
		for _, p := range [][2]string{{"sql1", "mi1"}, {"mi1", "sql1"}} {
			for _, kind := range []string{"tcp", "echo"} {
				if v, ok := kindValue(s, "linkmesh_path_up", p[0], p[1], labResponder, kind); !ok || v != 1 {
					return false
				}
			}
		}
		return true
	})
	if v, ok := s.one("linkmesh_probe_info", "probe", "sql1", "os", "windows/amd64"); !ok || v != 1 {
		t.Errorf("linkmesh_probe_info of sql1 does not say windows/amd64: the probe that answered is not the Windows build")
	}
	report(t, "linkmesh.exe probe under Wine as sql1, reporting to the Linux coordinator",
		fmt.Sprintf("tcp and echo up both ways %.1f s after the coordinator was ready", took.Seconds()))

	// linkmesh.exe check on the SQL Server host, against the MI host's address.
	serveAndClose(t, lab.MI(), 5022)
	serveAndClose(t, lab.MI(), checkHADRPort)
	mi := lab.MI().Addr().String()
	miSubnet := netip.PrefixFrom(lab.MI().Addr(), 24).Masked().String()
	run := func(output string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := sql.Command(wine, exe, "check", "--mi", mi, "--mi-subnet", miSubnet, "--mi-node", net.JoinHostPort(mi, fmt.Sprint(checkHADRPort)),
			"--sql-endpoint", "none", "--timeout", "2s", "--output", output)
		cmd.Env = os.Environ()
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		if ctx.Err() != nil || cmd.ProcessState == nil {
			t.Fatalf("linkmesh.exe check --output %s: %v (did it end?)", output, err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
	table, code := run("table")
	if code != 3 || !strings.Contains(table, "P1") || !strings.Contains(table, "PARTIAL") {
		t.Errorf("check (table) under Wine: exit %d, want 3 (PARTIAL: D1 cannot run with an address), with a P1 row:\n%s", code, table)
	}
	js, code := run("json")
	var rep struct {
		Verdict string `json:"verdict"`
		Rows    []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 3 || rep.Verdict != "partial" {
		t.Fatalf("check (json) under Wine: exit %d, verdict %q, %v:\n%s", code, rep.Verdict, err, js)
	}
	for _, r := range rep.Rows {
		if (r.ID == "P1" || r.ID == "P2") && r.Status != "pass" {
			t.Errorf("%s is %q under Wine, want pass:\n%s", r.ID, r.Status, js)
		}
	}
	report(t, "linkmesh.exe check under Wine in the sql host, --mi "+mi, "table and JSON reports, P1 and P2 pass, verdict PARTIAL (D1 needs a name)")
}
