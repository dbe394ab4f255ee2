//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// coordinatedRows are every row of a coordinated report without --sql-dsn.
var coordinatedRows = []string{"D1", "P1", "P2", "EP", "P3", "standin", "D2", "MTU", "BW"}

// wantRows checks the statuses of the rows named in want, and that the
// report has exactly the coordinated rows.
func wantRows(t *testing.T, rows map[string]checkRow, want map[string]string) {
	t.Helper()
	if len(rows) != len(coordinatedRows) {
		t.Errorf("%d rows, want %d (%v): %v", len(rows), len(coordinatedRows), coordinatedRows, rows)
	}
	for _, id := range coordinatedRows {
		if _, ok := rows[id]; !ok {
			t.Errorf("row %s missing", id)
		}
	}
	for id, st := range want {
		if r := rows[id]; r.Status != st {
			t.Errorf("%s: %s (%s: %s), want %s", id, r.Status, r.Measured, r.Reason, st)
		}
	}
}

// TestLabCheckCoordinated runs `linkmesh check --coordinator` on the lab's SQL
// Server host: the coordinator in the router runs a round on the probes sql1
// (beside "SQL Server") and mi1 (in the "MI's VNet"), so the report covers
// both directions, the path MTU and the throughput.
func TestLabCheckCoordinated(t *testing.T) {
	c := newCheckLab(t)
	lab := c.lab
	m := startLabMesh(t, lab, `
defaults: {interval: 5s, timeout: 2s}
check_rounds: {rounds_per_minute: 60, burst: 20, sql_host_names: {sql1: [`+checkSQLName+`]}}
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
`, map[string][]string{"mi": {"--dns-server", c.dnsAddr}})
	m.wait(t, 20*time.Second, "both probes up", func(s series) bool {
		a, okA := s.one("linkmesh_probe_up", "probe", "sql1")
		b, okB := s.one("linkmesh_probe_up", "probe", "mi1")
		return okA && okB && a == 1 && b == 1
	})
	coord := net.JoinHostPort(lab.Router().AddrToward(lab.SQL()).String(), fmt.Sprint(labGRPC))
	base := []string{"--timeout", "3s", "--mi", checkMI, "--mi-subnet", "198.18.2.0/24", "--mi-node", checkNode,
		"--coordinator", coord, "--insecure", "--probe", "sql1"}
	withName := append(append([]string{}, base...), "--sql-host", checkSQLName, "--database-size", "10GB")

	t.Run("all good", func(t *testing.T) {
		serveAndClose(t, lab.SQL(), 5022) // SQL Server's endpoint holds the port
		started := time.Now()
		code, rows := c.checkJSON(t, withName...)
		took := time.Since(started)
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		all := map[string]string{}
		for _, id := range coordinatedRows {
			all[id] = "pass"
		}
		wantRows(t, rows, all)
		if si := rows["standin"]; !strings.Contains(si.Reason, "stand-in not used: port 5022 is in use on sql1") {
			t.Errorf("stand-in: %+v, want it not used, and said so", si)
		}
		if p3 := rows["P3"]; p3.Result != "ok" || !strings.Contains(p3.Measured, "3/3 connected") {
			t.Errorf("P3 %+v, want three TCP connects from mi1", p3)
		}
		if d2 := rows["D2"]; d2.Measured != lab.SQL().Addr().String() {
			t.Errorf("D2 %+v, want %s resolved by mi1", d2, lab.SQL().Addr())
		}
		if mtu := rows["MTU"]; !strings.Contains(mtu.Measured, "sql1 → mi1: 1500 bytes; mi1 → sql1: 1500 bytes") {
			t.Errorf("MTU %+v", mtu)
		}
		if bw := rows["BW"]; !strings.Contains(bw.Reason, "10 GB at") {
			t.Errorf("BW %+v, want a seeding estimate", bw)
		}
		// The round's results are no path state: nothing from mi1 in /metrics.
		if got := m.scrape(t).find("linkmesh_path_up", "source", "mi1"); len(got) != 0 {
			t.Errorf("the round's results became paths: %v", got)
		}
		report(t, fmt.Sprintf("linkmesh check --coordinator, all good, 3 attempts per target, 64 MiB burst: %.1f s; BW %s", took.Seconds(), rows["BW"].Measured))
	})

	t.Run("5022 dropped sql to mi", func(t *testing.T) {
		serveAndClose(t, lab.SQL(), 5022)
		c.inject(t, netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: 5022})
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantRows(t, rows, map[string]string{"P1": "fail", "P3": "pass", "MTU": "pass"})
		if p1 := rows["P1"]; p1.Result != "timeout" || !strings.Contains(p1.commands(), "az network nsg rule create") {
			t.Errorf("P1 %+v, want timeout with the NSG fix", p1)
		}
	})

	t.Run("5022 dropped mi to sql", func(t *testing.T) {
		serveAndClose(t, lab.SQL(), 5022)
		c.inject(t, netlab.Fault{Kind: netlab.Drop, From: "mi", To: "sql", Port: 5022})
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantRows(t, rows, map[string]string{"P1": "pass", "P3": "fail", "D2": "skip"})
		p3 := rows["P3"]
		inbound := `New-NetFirewallRule -DisplayName "MI link from MI (TCP 5022)" -Direction Inbound -Protocol TCP -LocalPort 5022 -RemoteAddress 198.18.2.0/24 -Action Allow`
		outbound := "--direction Outbound --access Allow --protocol Tcp --source-address-prefixes 198.18.2.0/24 --destination-address-prefixes 198.18.1.2/32 --destination-port-ranges 5022"
		if p3.Result != "timeout" || p3.Fix == nil || !strings.Contains(p3.commands(), inbound) || !strings.Contains(p3.commands(), outbound) {
			t.Errorf("P3 %+v\ncommands:\n%s\nwant timeout with the SQL host's inbound rule and the NSG's outbound rule", p3, p3.commands())
		}
	})

	t.Run("MI name resolves to a public address", func(t *testing.T) {
		serveAndClose(t, lab.SQL(), 5022)
		before := c.publicDrops(t)
		args := append([]string{}, base...)
		args[3] = checkMIPublic // --mi
		code, rows := c.checkJSON(t, args...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantRows(t, rows, map[string]string{"D1": "fail", "P1": "skip", "P3": "pass"})
		if after := c.publicDrops(t); after != before {
			t.Errorf("linkmesh sent %d packets toward %s", after-before, publicAnswer)
		}
	})

	t.Run("MTU black hole", func(t *testing.T) {
		serveAndClose(t, lab.SQL(), 5022)
		c.inject(t, netlab.Fault{Kind: netlab.MTUBlackhole, From: "sql", To: "mi", MTU: 1400})
		code, rows := c.checkJSON(t, base...)
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		wantRows(t, rows, map[string]string{"P1": "pass", "P2": "pass", "P3": "pass", "MTU": "fail"})
		mtu := rows["MTU"]
		if !strings.Contains(mtu.Measured, "sql1 → mi1: black hole above 1400 bytes") || !strings.Contains(mtu.commands(), "--set-mss 1350") {
			t.Errorf("MTU %+v\n%s\nwant the black hole toward mi1 and the MSS clamp", mtu, mtu.commands())
		}
	})

	t.Run("SQL Server endpoint absent: stand-in", func(t *testing.T) {
		code, rows := c.checkJSON(t, base...)
		if code != 1 { // EP fails: nothing listens on 5022
			t.Errorf("exit code %d, want 1", code)
		}
		wantRows(t, rows, map[string]string{"EP": "fail", "P3": "pass", "standin": "warn"})
		if p3 := rows["P3"]; !strings.Contains(p3.Measured, "echo through the stand-in") {
			t.Errorf("P3 %+v, want proof of reach through the stand-in", p3)
		}
		si := rows["standin"]
		if !strings.Contains(si.Reason, "SQL Server has no endpoint on 5022 yet; create it") || !strings.Contains(rows["EP"].commands(), "CREATE ENDPOINT") || si.Measured != "used, then released" {
			t.Errorf("stand-in %+v\n%s", si, si.commands())
		}
		_, table, _ := c.check(t, base...)
		t.Logf("the table report:\n%s", table)
		for _, want := range []string{"linkmesh check (coordinated)", "through coordinator " + coord + ": probe sql1 (SQL Server host, reached at 198.18.1.2) ⇄ probe mi1 (MI's VNet)", "standin  WARN", "CREATE ENDPOINT"} {
			if !strings.Contains(table, want) {
				t.Errorf("the table lacks %q", want)
			}
		}
		// Released: a connection to 5022 on the sql host is refused again.
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if conn, err := lab.MI().DialContext(ctx, "tcp", net.JoinHostPort(lab.SQL().Addr().String(), "5022")); err == nil {
			conn.Close()
			t.Errorf("port 5022 on the sql host still answers after the check: the stand-in was not released")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		unreachable := net.JoinHostPort(lab.Router().AddrToward(lab.SQL()).String(), "7999")
		code, stdout, stderr := c.check(t, "--mi", checkMI, "--coordinator", unreachable, "--insecure", "--probe", "sql1")
		if code != 2 || stdout != "" || !strings.Contains(stderr, "cannot reach the coordinator at "+unreachable) || strings.Contains(stderr, "goroutine") {
			t.Errorf("unreachable coordinator: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and one line saying so", code, stdout, stderr)
		}
		code, _, stderr = c.check(t, append(base, "--peer", "nosuchprobe")...)
		if code != 2 || !strings.Contains(stderr, "nosuchprobe") {
			t.Errorf("unknown peer: exit %d, stderr:\n%s\nwant exit 2 naming the peer", code, stderr)
		}
	})
}

func (r checkRow) commands() string {
	var b strings.Builder
	if r.Fix != nil {
		for _, s := range r.Fix.Steps {
			b.WriteString(s.Command + "\n")
		}
	}
	return b.String()
}
