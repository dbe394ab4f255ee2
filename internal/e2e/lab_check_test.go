//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/internal/netlab"
)

// Names the lab's DNS server answers for `linkmesh check`.
const (
	checkMI       = "sqlmi1.lab0123456789.database.windows.net" // → mi (198.18.2.2)
	checkMIPublic = "sqlmi2.lab0123456789.database.windows.net" // → 203.0.113.10 (documentation range; dropped by the router)
	checkNode     = "db1.tr1.lab.worker.database.windows.net"   // an MI node → mi
	checkHADRPort = 11003                                       // the one HADR port the mi host listens on
	checkSQLName  = "sql1.corp.lab.test"                        // the SQL Server host, for D2 → sql (198.18.1.2)
	publicAnswer  = "203.0.113.10"
)

// checkLab is the lab as `linkmesh check` sees it from the SQL Server host: the
// mi host plays the MI (5022 and one HADR port), a DNS server in the router's
// namespace serves the MI's names, and the router drops everything sent to
// 203.0.113.0/24 before routing it.
type checkLab struct {
	lab     *netlab.Lab
	bin     string
	dnsAddr string
}

func newCheckLab(t *testing.T) *checkLab {
	t.Helper()
	lab := netlab.New(t)
	c := &checkLab{lab: lab, bin: netlab.BuildLinkmesh(t)}
	router, sql, mi := lab.Router(), lab.SQL(), lab.MI()

	dnsIP := router.AddrToward(sql)
	var pc net.PacketConn
	if err := router.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(dnsIP, 53).String())
		return err
	}); err != nil {
		t.Fatalf("dns server in the router: %v", err)
	}
	srv, err := dnstest.Serve(pc, map[string][]netip.Addr{
		checkMI:       {mi.Addr()},
		checkNode:     {mi.Addr()},
		checkMIPublic: {netip.MustParseAddr(publicAnswer)},
		checkSQLName:  {sql.Addr()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c.dnsAddr = srv.Addr()

	serveAndClose(t, mi, 5022)
	serveAndClose(t, mi, checkHADRPort)

	// Packets to the documentation range never leave the lab: the router has no
	// route out, and drops them before routing anyway.
	if out, err := router.Command("ip", "route", "get", publicAnswer).CombinedOutput(); err == nil {
		t.Fatalf("the router has a route to %s (%s): the lab must have no way out", publicAnswer, strings.TrimSpace(string(out)))
	}
	if out, err := router.Command("iptables", "-w", "5", "-t", "raw", "-A", "PREROUTING", "-d", "203.0.113.0/24", "-j", "DROP").CombinedOutput(); err != nil {
		t.Fatalf("router: drop 203.0.113.0/24: %v: %s", err, out)
	}
	return c
}

// inject puts f into the lab and takes it out when the (sub)test ends.
func (c *checkLab) inject(t *testing.T, f netlab.Fault) {
	t.Helper()
	inj, err := c.lab.Inject(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := inj.Remove(); err != nil {
			t.Errorf("remove %v: %v", f, err)
		}
	})
}

// publicDrops reads how many packets the router dropped for 203.0.113.0/24.
func (c *checkLab) publicDrops(t *testing.T) int {
	t.Helper()
	out, err := c.lab.Router().Command("iptables", "-w", "5", "-t", "raw", "-L", "PREROUTING", "-v", "-x", "-n").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -L: %v: %s", err, out)
	}
	m := regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s+DROP.*203\.0\.113\.0/24`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no drop rule for 203.0.113.0/24 in:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// check runs `linkmesh check` in the sql host with the lab's DNS server and a
// 1 s timeout, and returns its exit code, stdout and stderr.
func (c *checkLab) check(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args = append([]string{"check", "--dns-server", c.dnsAddr, "--timeout", "1s"}, args...)
	cmd := c.lab.SQL().Command(c.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("linkmesh %s did not end within a minute; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run linkmesh check: %v", err)
	}
	t.Logf("linkmesh %s → exit %d\n%s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), stderr.String())
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func (c *checkLab) checkJSON(t *testing.T, args ...string) (int, map[string]checkRow) {
	t.Helper()
	code, stdout, _ := c.check(t, append(args, "--output", "json")...)
	var report struct {
		Version  int        `json:"version"`
		Verdict  string     `json:"verdict"`
		Ready    bool       `json:"ready"`
		ExitCode int        `json:"exit_code"`
		Rows     []checkRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	verdicts := map[int]string{0: "ready", 1: "not_ready", 2: "incomplete", 3: "partial"}
	if report.Version != 2 || report.Ready != (code == 0) || report.ExitCode != code || report.Verdict != verdicts[code] {
		t.Errorf("report version %d, verdict %q, ready %v, exit_code %d with exit code %d: want version 2 and the verdict of the exit code",
			report.Version, report.Verdict, report.Ready, report.ExitCode, code)
	}
	rows := map[string]checkRow{}
	for _, r := range report.Rows {
		rows[r.ID] = r
	}
	return code, rows
}

// wantStatuses checks each row's status and that the peer rows are skipped.
func wantStatuses(t *testing.T, rows map[string]checkRow, want map[string]string) {
	t.Helper()
	for _, id := range []string{"P3", "D2", "MTU", "BW"} {
		if _, ok := want[id]; !ok {
			want[id] = "skip"
		}
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for id, st := range want {
		if r := rows[id]; r.Status != st {
			t.Errorf("%s: %s (%s: %s), want %s", id, r.Status, r.Measured, r.Reason, st)
		}
	}
}

// TestLabCheck runs `linkmesh check` on the lab's SQL Server host against the
// lab's MI, healthy and broken in the ways the MI link breaks.
func TestLabCheck(t *testing.T) {
	c := newCheckLab(t)
	base := []string{"--mi", checkMI, "--mi-subnet", "198.18.2.0/24", "--mi-node", checkNode}

	t.Run("all good", func(t *testing.T) {
		serveAndClose(t, c.lab.SQL(), 5022) // SQL Server's endpoint
		// Every row this host can test passes, but P3 and MTU need a probe in
		// the MI's VNet: PARTIAL, exit code 3, never READY.
		code, rows := c.checkJSON(t, base...)
		if code != 3 {
			t.Errorf("exit code %d, want 3 (partial)", code)
		}
		wantStatuses(t, rows, map[string]string{"D1": "pass", "P1": "pass", "P2": "pass", "EP": "pass"})
		if rows["D1"].Measured != "198.18.2.2" || !strings.Contains(rows["D1"].Reason, "inside the MI subnet 198.18.2.0/24") {
			t.Errorf("D1 %+v", rows["D1"])
		}
		code, table, stderr := c.check(t, base...)
		for _, want := range []string{"\nPARTIAL: every required row that ran passed, but P3 and MTU did not run", "Verdict partial, exit code 3.\nTo complete it, run the same command with --coordinator"} {
			if !strings.Contains(table, want) {
				t.Errorf("table output lacks %q:\n%s", want, table)
			}
		}
		if code != 3 || !strings.Contains(stderr, "linkmesh: partial: ") {
			t.Errorf("table run: exit code %d, want 3 and the verdict on stderr:\n%s", code, stderr)
		}
	})

	t.Run("5022 dropped sql to mi", func(t *testing.T) {
		serveAndClose(t, c.lab.SQL(), 5022)
		c.inject(t, netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: 5022})
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantStatuses(t, rows, map[string]string{"D1": "pass", "P1": "fail", "P2": "pass", "EP": "pass"})
		p1 := rows["P1"]
		nsg := "az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name allow-mi-link-from-sql-host --priority 1000 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 198.18.1.2/32 --destination-address-prefixes 198.18.2.0/24 --destination-port-ranges 5022 11000-11999"
		if p1.Result != "timeout" || p1.Fix == nil || p1.Fix.For != "network team" || !strings.Contains(p1.commands(), nsg) {
			t.Errorf("P1 %+v\ncommands:\n%s\nwant a timeout with the NSG line:\n%s", p1, p1.commands(), nsg)
		}
		if !strings.Contains(p1.commands(), "-Direction Outbound -Protocol TCP -RemotePort 5022,11000-11999 -RemoteAddress 198.18.2.0/24") {
			t.Errorf("P1 commands lack the SQL host's outbound firewall rule:\n%s", p1.commands())
		}

		code, table, _ := c.check(t, base...)
		for _, want := range []string{"P1   FAIL", "P1 — for the network team", nsg, "NOT READY"} {
			if !strings.Contains(table, want) {
				t.Errorf("table output lacks %q:\n%s", want, table)
			}
		}
		if code != 1 {
			t.Errorf("table run: exit code %d, want 1", code)
		}
	})

	t.Run("MI name resolves to a public address", func(t *testing.T) {
		serveAndClose(t, c.lab.SQL(), 5022)
		before := c.publicDrops(t)
		code, rows := c.checkJSON(t, "--mi", checkMIPublic, "--mi-subnet", "198.18.2.0/24", "--mi-node", checkNode)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantStatuses(t, rows, map[string]string{"D1": "fail", "P1": "skip", "P2": "pass", "EP": "pass"})
		if d1 := rows["D1"]; d1.Measured != publicAnswer || !strings.Contains(d1.Reason, "public address") || d1.Fix == nil || d1.Fix.For != "DNS administrator" {
			t.Errorf("D1 %+v, want the public answer, why, and the DNS administrator's fix", d1)
		}
		if after := c.publicDrops(t); after != before {
			t.Errorf("linkmesh sent %d packets toward %s; it must not connect to a public answer", after-before, publicAnswer)
		}
		// The guard itself: a connection attempt there is dropped by the router.
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if conn, err := c.lab.SQL().DialContext(ctx, "tcp", publicAnswer+":5022"); err == nil {
			conn.Close()
			t.Fatalf("a connection to %s succeeded inside the lab", publicAnswer)
		}
		if c.publicDrops(t) == before {
			t.Errorf("the router's drop rule for 203.0.113.0/24 saw no packet")
		}
	})

	t.Run("SQL Server endpoint absent", func(t *testing.T) {
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantStatuses(t, rows, map[string]string{"D1": "pass", "P1": "pass", "P2": "pass", "EP": "fail"})
		ep := rows["EP"]
		if ep.Result != "refused" || !strings.Contains(ep.Reason, "SQL Server is not listening on 5022: create the endpoint") || ep.Fix == nil || ep.Fix.For != "DBA" {
			t.Errorf("EP %+v", ep)
		}
		if !strings.Contains(ep.commands(), "CREATE ENDPOINT database_mirroring_endpoint STATE = STARTED AS TCP (LISTENER_PORT = 5022") {
			t.Errorf("EP commands lack CREATE ENDPOINT:\n%s", ep.commands())
		}
	})

	t.Run("HADR range with one listening port", func(t *testing.T) {
		serveAndClose(t, c.lab.SQL(), 5022)
		_, rows := c.checkJSON(t, append(base, "--hadr-ports", "11000-11999", "--hadr-sample", "8")...)
		if p2 := rows["P2"]; p2.Status != "pass" || !strings.Contains(p2.Measured, "refused") || !strings.Contains(p2.Reason, "firewalls pass") {
			t.Errorf("sample of the range: P2 %+v, want pass with refusals counted as reached", p2)
		}
		_, rows = c.checkJSON(t, append(base, "--hadr-ports", fmt.Sprintf("%d-%d", checkHADRPort-1, checkHADRPort+1), "--hadr-sample", "3")...)
		want := fmt.Sprintf("198.18.2.2: open %d; refused %d, %d", checkHADRPort, checkHADRPort-1, checkHADRPort+1)
		if p2 := rows["P2"]; p2.Status != "pass" || p2.Measured != want {
			t.Errorf("whole narrow range: P2 %+v, want pass measured %q", p2, want)
		}
		_, rows = c.checkJSON(t, "--mi", checkMI, "--mi-subnet", "198.18.2.0/24", "--mi-node", fmt.Sprintf("%s:%d", checkNode, checkHADRPort))
		if p2 := rows["P2"]; p2.Status != "pass" || !strings.Contains(p2.Reason, "the node's HADR port answered") {
			t.Errorf("given node port: P2 %+v", p2)
		}
	})

	t.Run("HADR range dropped", func(t *testing.T) {
		serveAndClose(t, c.lab.SQL(), 5022)
		c.inject(t, netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: 11000, PortEnd: 11999})
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantStatuses(t, rows, map[string]string{"D1": "pass", "P1": "pass", "P2": "fail", "EP": "pass"})
		if p2 := rows["P2"]; p2.Result != "timeout" || !strings.Contains(p2.commands(), "--destination-port-ranges 11000-11999") {
			t.Errorf("P2 %+v\n%s", p2, p2.commands())
		}
	})
}
