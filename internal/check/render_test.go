package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sampleReport is a report as a real run builds it: P1 dropped, P3 and the
// other peer rows skipped, a trace flag off (advice), a seeding size given.
func sampleReport() Report {
	cfg := Config{MI: "sqlmi1.abc123def456.database.windows.net", MIPort: 5022, MISubnet: netip.MustParsePrefix("10.0.1.0/24"),
		HADRPorts: DefaultHADRPorts, HADRSample: 4, SQLEndpoint: "127.0.0.1:5022", Timeout: 5 * time.Second}
	p := paths{SQLHost: "192.168.10.5/32", MISubnet: "10.0.1.0/24", MIAddr: "10.0.1.254"}
	rows := []Row{
		{ID: "D1", What: "MI's name resolves to a private address in 10.0.1.0/24", Required: true, Duration: 12 * time.Millisecond,
			Outcome: Outcome{Status: Pass, Measured: "10.0.1.254", Reason: "inside the MI subnet 10.0.1.0/24"}},
		{ID: "P1", What: "SQL Server host → MI, TCP 5022", Required: true, Duration: 5001 * time.Millisecond,
			Outcome: p1Outcome(attempt.Result{Code: attempt.Timeout}, netip.MustParseAddrPort("10.0.1.254:5022"), 5*time.Second, p, DefaultHADRPorts)},
		{ID: "P2", What: "SQL Server host → MI node, TCP 11000-11999", Required: true, Duration: 4 * time.Millisecond,
			Outcome: Outcome{Status: Pass, Result: "ok", Measured: "10.0.1.6: open 11002; refused 11240, 11613, 11877",
				Reason: "every port tried answered, so the firewalls pass the HADR ports (a refusal is the node's own answer: only the current node port listens)"}},
		{ID: "EP", What: "SQL Server listens on its mirroring endpoint (127.0.0.1:5022)", Required: true, Duration: 300 * time.Microsecond,
			Outcome: epOutcome(attempt.Result{Code: attempt.Refused}, "127.0.0.1:5022", 5022, 5*time.Second)},
		{ID: "sql.tf9567", What: "trace flag 9567 (seeding compression)", Duration: 20 * time.Millisecond,
			Outcome: Outcome{Status: Warn, Measured: "off", Reason: "off: turning it on compresses initial seeding, often much faster on a slow link",
				Fix: &Fix{For: ForDBA, Summary: "Trace flag 9567 compresses the data stream of automatic seeding.",
					Steps: []Step{{Text: "To turn it on at once, until the next restart:", Command: "DBCC TRACEON (9567, -1);", Shell: ShellTSQL}}}}},
	}
	for _, c := range PeerChecks(cfg) {
		rows = append(rows, newRow(c, Outcome{Status: Skip, Reason: c.Skip}, 0))
	}
	return Report{
		Mode: "standalone", Host: "SQLPROD01", Version: "v0.3.0",
		Started:  time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
		Duration: 5012 * time.Millisecond,
		Inputs: Inputs{MI: cfg.MI, MIPort: 5022, MISubnet: "10.0.1.0/24", HADRPorts: "11000-11999", HADRSample: 4,
			SQLEndpoint: cfg.SQLEndpoint, SQLReadiness: true, Databases: []string{"Sales"}, DatabaseSize: 500e9, Timeout: 5 * time.Second},
		Rows:    rows,
		Seeding: EstimateSeeding(500e9, 0),
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after a deliberate change):\n--- got\n%s", path, got)
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", buf.Bytes())

	// The schema promises: every row has every field, and the version is there.
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema"] != "linkmesh-check" || doc["version"] != float64(JSONVersion) || doc["ready"] != false || doc["exit_code"] != float64(1) {
		t.Errorf("header fields: schema %v version %v ready %v exit_code %v", doc["schema"], doc["version"], doc["ready"], doc["exit_code"])
	}
	for _, r := range doc["rows"].([]any) {
		row := r.(map[string]any)
		for _, k := range []string{"id", "what", "required", "status", "result", "measured", "reason", "duration_seconds", "fix"} {
			if _, ok := row[k]; !ok {
				t.Errorf("row %v lacks %q", row["id"], k)
			}
		}
	}
}

func TestWriteJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.junit.xml", buf.Bytes())

	var suites junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	s := suites.Suites[0]
	if s.Tests != 9 || s.Failures != 2 || s.Skipped != 4 || len(s.Cases) != 9 {
		t.Errorf("suite: %d tests, %d failures, %d skipped, %d cases; want 9, 2, 4, 9", s.Tests, s.Failures, s.Skipped, len(s.Cases))
	}
	p1 := s.Cases[1]
	if p1.Failure == nil || p1.Failure.Type != "timeout" || !strings.Contains(p1.Failure.Body, "az network nsg rule create") {
		t.Errorf("P1 testcase %+v: want a timeout failure whose text is the fix", p1)
	}
	if s.Cases[5].Skipped == nil || s.Cases[4].Failure != nil || !strings.HasPrefix(s.Cases[4].SystemOut, "WARN") {
		t.Errorf("skip → <skipped>, warn → passing case with WARN in system-out: %+v %+v", s.Cases[5], s.Cases[4])
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	tests := []struct{ name, want string }{
		{"header", "linkmesh check (standalone) on SQLPROD01 → MI sqlmi1.abc123def456.database.windows.net"},
		{"columns", "ID          STATUS  REQUIREMENT"},
		{"passing row", "D1          pass    MI's name resolves to a private"},
		{"failed row stands out", "P1          FAIL    SQL Server host → MI, TCP 5022"},
		{"warning stands out", "sql.tf9567  WARN"},
		{"verdict", "NOT READY: 2 required rows failed (P1, EP), and P3 and MTU did not run. 2 passed, 2 failed, 1 warning, 4 skipped. Verdict not_ready, exit code 1.\nTo complete it, run the same command with --coordinator <host:port>"},
		{"fix heading", "P1 — for the network team"},
		{"nsg line whole", "az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name allow-mi-link-from-sql-host --priority 1000 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 192.168.10.5/32 --destination-address-prefixes 10.0.1.0/24 --destination-port-ranges 5022 11000-11999"},
		{"firewall line whole", `New-NetFirewallRule -DisplayName "MI link to MI (TCP 5022, 11000-11999)" -Direction Outbound`},
		{"dba fix", "EP — for the DBA"},
		{"advice", "ADVICE\n\nsql.tf9567 — for the DBA"},
		{"seeding", "SEEDING\n  needs a measured throughput"},
		{"caveat", "NOTE\n  A completed TCP handshake proves"},
	}
	for _, tt := range tests {
		if !strings.Contains(out, tt.want) {
			t.Errorf("%s: output lacks %q", tt.name, tt.want)
		}
	}
	for i, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %d ends in spaces: %q", i+1, l)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	ready := Report{Mode: "standalone", Host: "h", Inputs: Inputs{MI: "mi"}, Rows: []Row{{ID: "P1", Required: true, Outcome: Outcome{Status: Pass}}}}
	buf.Reset()
	WriteTable(&buf, ready)
	if !strings.Contains(buf.String(), "READY: every required row ran and passed.") || strings.Contains(buf.String(), "FIXES") || strings.Contains(buf.String(), "SEEDING") {
		t.Errorf("ready report:\n%s", buf.String())
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		s     string
		width int
		want  []string
	}{
		{"", 10, []string{""}},
		{"short", 10, []string{"short"}},
		{"one two three four", 9, []string{"one two", "three", "four"}},
		{"averyveryverylongword x", 5, []string{"averyveryverylongword", "x"}},
		{"SQL Server host → MI", 17, []string{"SQL Server host →", "MI"}},
	}
	for _, tt := range tests {
		if got := wrap(tt.s, tt.width); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.s, tt.width, got, tt.want)
		}
	}
}
