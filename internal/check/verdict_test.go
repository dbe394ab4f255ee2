package check

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// row builds a row for the verdict tests.
func row(id string, required bool, st Status) Row {
	return Row{ID: id, What: "requirement " + id, Required: required, Outcome: Outcome{Status: st, Reason: "because " + id}}
}

// standaloneRows are the rows of a standalone run whose own rows (D1, P1, P2,
// EP) have the statuses given, with the peer rows skipped as that mode skips
// them.
func standaloneRows(d1, p1, p2, ep Status) []Row {
	rows := []Row{row("D1", true, d1), row("P1", true, p1), row("P2", true, p2), row("EP", true, ep)}
	for _, c := range PeerChecks(Config{}) {
		rows = append(rows, newRow(c, Outcome{Status: Skip, Reason: c.Skip}, 0))
	}
	return rows
}

// TestVerdict: every verdict, its precedence and its exit code, and what each
// output format says about it.
func TestVerdict(t *testing.T) {
	notNeeded := row("D2", true, Skip)
	notNeeded.NotNeeded = true
	tests := []struct {
		name       string
		report     Report
		want       Verdict
		wantCode   int
		untested   []string
		tableLine  string // the verdict line starts with it
		toComplete string // "" when the report must not say what to run
	}{
		{name: "every required row ran and passed", want: Ready, wantCode: 0,
			report: Report{Mode: "coordinated", Rows: []Row{row("D1", true, Pass), row("P1", true, Pass), row("P3", true, Pass),
				row("MTU", true, Pass), row("BW", false, Skip), row("sql.tf9567", false, Warn)}},
			tableLine: "READY: every required row ran and passed. 4 passed, 0 failed, 1 warning, 1 skipped. Verdict ready, exit code 0."},
		{name: "a required warning does not hold it back", want: Ready, wantCode: 0,
			report:    Report{Mode: "coordinated", Rows: []Row{row("P1", true, Pass), row("sql.version", true, Warn)}},
			tableLine: "READY: every required row ran and passed."},
		{name: "a skip that does not apply is not untested", want: Ready, wantCode: 0,
			report:    Report{Mode: "coordinated", Rows: []Row{row("P3", true, Pass), notNeeded, row("MTU", true, Pass)}},
			tableLine: "READY:"},
		{name: "standalone, all that ran passed", want: Partial, wantCode: 3, untested: []string{"P3", "MTU"},
			report:     Report{Mode: "standalone", Rows: standaloneRows(Pass, Pass, Pass, Pass)},
			tableLine:  "PARTIAL: every required row that ran passed, but P3 and MTU did not run, so they are not proven. 4 passed, 0 failed, 0 warnings, 4 skipped. Verdict partial, exit code 3.",
			toComplete: "To complete it, run the same command with --coordinator <host:port> --tls-ca <ca.crt> --tls-cert <operator>.crt --tls-key <operator>.key --probe <this-probe>, with a probe in the MI's VNet (linkmesh probe --site mi) connected to that coordinator: only such a probe can test P3 and MTU."},
		{name: "standalone, --mi an address and no endpoint", want: Partial, wantCode: 3, untested: []string{"D1", "EP", "P3", "MTU"},
			report:    Report{Mode: "standalone", Rows: standaloneRows(Skip, Pass, Pass, Skip)},
			tableLine: "PARTIAL: every required row that ran passed, but D1, EP, P3 and MTU did not run",
			toComplete: "To complete it, run the same command with --coordinator <host:port> --tls-ca <ca.crt> --tls-cert <operator>.crt --tls-key <operator>.key --probe <this-probe>, with a probe in the MI's VNet (linkmesh probe --site mi) connected to that coordinator: only such a probe can test P3 and MTU; " +
				"D1 was skipped (because D1); EP was skipped (because EP)."},
		{name: "a failure beats the skips", want: NotReady, wantCode: 1, untested: []string{"P3", "MTU"},
			report:     Report{Mode: "standalone", Rows: standaloneRows(Pass, Fail, Pass, Pass)},
			tableLine:  "NOT READY: 1 required row failed (P1), and P3 and MTU did not run. 3 passed, 1 failed, 0 warnings, 4 skipped. Verdict not_ready, exit code 1.",
			toComplete: "To complete it, run the same command with --coordinator"},
		{name: "a failure, nothing untested", want: NotReady, wantCode: 1,
			report:    Report{Mode: "coordinated", Rows: []Row{row("P1", true, Pass), row("P3", true, Fail), row("MTU", true, Pass)}},
			tableLine: "NOT READY: 1 required row failed (P3). 2 passed, 1 failed"},
		{name: "incomplete beats a failure", want: Incomplete, wantCode: 2, untested: []string{"P3", "MTU"},
			report: Report{Mode: "coordinated", Incomplete: "the round did not run",
				Rows: []Row{row("P1", true, Fail), row("P3", true, Skip), row("MTU", true, Skip)}},
			tableLine: "INCOMPLETE: the round did not run. 0 passed, 1 failed, 0 warnings, 2 skipped. Verdict incomplete, exit code 2."},
		{name: "incomplete, nothing failed", want: Incomplete, wantCode: 2, untested: []string{"P3"},
			report:    Report{Mode: "coordinated", Incomplete: "the round did not run", Rows: []Row{row("P1", true, Pass), row("P3", true, Skip)}},
			tableLine: "INCOMPLETE: the round did not run."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.report
			r.Host, r.Inputs.MI = "sql01", "sqlmi1.abc.database.windows.net"
			if got := r.Verdict(); got != tt.want {
				t.Errorf("Verdict: got %s, want %s", got, tt.want)
			}
			if got := r.ExitCode(); got != tt.wantCode {
				t.Errorf("ExitCode: got %d, want %d", got, tt.wantCode)
			}
			if r.Ready() != (tt.want == Ready) {
				t.Errorf("Ready: got %v with verdict %s", r.Ready(), tt.want)
			}
			if got := ids(r.Untested()); !slices.Equal(got, append([]string{}, tt.untested...)) {
				t.Errorf("Untested: got %v, want %v", got, tt.untested)
			}
			if got := r.ToComplete(); tt.toComplete == "" && got != "" || !strings.HasPrefix(got, tt.toComplete) {
				t.Errorf("ToComplete:\n got %q\nwant %q", got, tt.toComplete)
			}

			var table bytes.Buffer
			if err := WriteTable(&table, r); err != nil {
				t.Fatal(err)
			}
			word, _, _ := strings.Cut(tt.tableLine, ":")
			lines := strings.Split(table.String(), "\n")
			at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, word+":") })
			if at < 0 || !strings.HasPrefix(lines[at], tt.tableLine) {
				t.Fatalf("table: no verdict line starting %q:\n%s", tt.tableLine, table.String())
			}
			if next := lines[at+1]; tt.toComplete != "" && (!strings.HasPrefix(next, tt.toComplete) || next != r.ToComplete()) {
				t.Errorf("table: the line after the verdict is %q, want what to run to complete it, %q…", next, tt.toComplete)
			}
			if tt.toComplete == "" && strings.Contains(table.String(), "To complete it") {
				t.Errorf("table says what to run to complete a report that needs nothing:\n%s", table.String())
			}

			var js bytes.Buffer
			if err := WriteJSON(&js, r); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Verdict    string   `json:"verdict"`
				Ready      bool     `json:"ready"`
				ExitCode   int      `json:"exit_code"`
				Untested   []string `json:"untested"`
				ToComplete *string  `json:"to_complete"`
			}
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Verdict != string(tt.want) || doc.Ready != (tt.want == Ready) || doc.ExitCode != tt.wantCode ||
				doc.Untested == nil || !slices.Equal(doc.Untested, append([]string{}, tt.untested...)) ||
				doc.ToComplete == nil || *doc.ToComplete != r.ToComplete() {
				t.Errorf("JSON: verdict %q ready %v exit_code %d untested %v to_complete %v; want %s, %v, %d, %v, %q",
					doc.Verdict, doc.Ready, doc.ExitCode, doc.Untested, doc.ToComplete, tt.want, tt.want == Ready, tt.wantCode, tt.untested, r.ToComplete())
			}

			var ju bytes.Buffer
			if err := WriteJUnit(&ju, r); err != nil {
				t.Fatal(err)
			}
			var suites junitSuites
			if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil {
				t.Fatal(err)
			}
			props := map[string]string{}
			for _, p := range suites.Suites[0].Properties {
				props[p.Name] = p.Value
			}
			if props["verdict"] != string(tt.want) || props["exit_code"] != itoa(uint16(tt.wantCode)) || props["ready"] != map[bool]string{true: "true", false: "false"}[tt.want == Ready] ||
				props["to_complete"] != r.ToComplete() {
				t.Errorf("JUnit properties %v: want verdict %s, exit_code %d, ready %v, to_complete %q", props, tt.want, tt.wantCode, tt.want == Ready, r.ToComplete())
			}
		})
	}
}

// TestVerdictExitCodes: each verdict's exit code, as docs/check.md lists them.
func TestVerdictExitCodes(t *testing.T) {
	for v, want := range map[Verdict]int{Ready: 0, NotReady: 1, Incomplete: 2, Partial: 3} {
		if got := v.ExitCode(); got != want {
			t.Errorf("%s: exit code %d, want %d", v, got, want)
		}
	}
}

// TestVerdictD2ByAddress: in the coordinated mode D2 is required, and skipped
// when the SQL Server host is given by address (as recommended): that skip
// leaves nothing unproven, so it must not make the report partial.
func TestVerdictD2ByAddress(t *testing.T) {
	rows, _ := runCoordinated(t, func(*Round) (*linkmeshv1.CheckRound, error) {
		rd := goodRound()
		rd.SqlHost = "198.18.1.2"
		rd.Targets = append(rd.Targets[:1], rd.Targets[2:]...) // no D2 target
		return rd, nil
	}, true)
	d2 := rows["D2"]
	if !d2.Required || d2.Status != Skip || !d2.NotNeeded {
		t.Fatalf("D2 %+v: want a required skip marked NotNeeded", d2)
	}
	r := Report{Mode: "coordinated", Rows: []Row{rows["P3"], d2, rows["MTU"]}}
	if got := r.Verdict(); got != Ready || len(r.Untested()) != 0 {
		t.Errorf("P3 %s, D2 skipped by address, MTU %s: verdict %s, untested %v; want ready, none", rows["P3"].Status, rows["MTU"].Status, got, ids(r.Untested()))
	}
}

// TestVerdictMTUNotMeasured: in the coordinated mode, an MTU row the echoes
// could not measure (the responder port closed between the sites) is not a
// pass: the report is partial, and says why MTU did not run.
func TestVerdictMTUNotMeasured(t *testing.T) {
	rows, _ := runCoordinated(t, func(*Round) (*linkmeshv1.CheckRound, error) {
		rd := goodRound()
		rd.Targets[2].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
		rd.Targets[3].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
		return rd, nil
	}, true)
	r := Report{Mode: "coordinated", Rows: []Row{rows["P3"], rows["D2"], rows["MTU"]}}
	if got := r.Verdict(); got != Partial || r.ExitCode() != 3 {
		t.Errorf("P3 %s, D2 %s, MTU %s (%s): verdict %s, exit code %d; want partial, 3",
			rows["P3"].Status, rows["D2"].Status, rows["MTU"].Status, rows["MTU"].Reason, got, r.ExitCode())
	}
	if c := r.ToComplete(); !strings.Contains(c, "MTU was skipped (could not measure the path MTU") || strings.Contains(c, "--coordinator") {
		t.Errorf("to complete: %q, want MTU's reason (the coordinated mode already ran)", c)
	}
}
