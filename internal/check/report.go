package check

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of one `linkmesh check`: what was checked, against what,
// and every row. The renderers take it; the CLI builds it from Run's rows.
type Report struct {
	// Mode is "standalone" or "coordinated".
	Mode string
	// Host is the name of the host the check ran on (the SQL Server host).
	Host string
	// Version is linkmesh's version.
	Version string
	// Started is when the check began; Duration how long it took.
	Started  time.Time
	Duration time.Duration
	// Inputs are the values the check ran with.
	Inputs Inputs
	// Rows are the requirements, in report order.
	Rows []Row
	// Seeding is the initial-seeding estimate, or what it needs.
	Seeding Seeding
	// Incomplete, when set, says why part of the check could not run (the
	// coordinator refused the round): the verdict is Incomplete, and the
	// exit code 2.
	Incomplete string
}

// Inputs are the values a check ran with, echoed in the report so it can be read
// on its own (a DBA hands it to the network team). Never the DSN: it may hold a
// password.
type Inputs struct {
	// MI, MIPort, MISubnet, MINode, HADRPorts, HADRSample, SQLEndpoint and
	// DNSServer are the flags of the same names, as the check used them
	// ("" when not given).
	MI          string
	MIPort      uint16
	MISubnet    string
	MINode      string
	HADRPorts   string
	HADRSample  int
	SQLEndpoint string
	DNSServer   string
	// SQLReadiness says whether a DSN was given (the readiness rows ran);
	// MIReadiness whether --mi-dsn was (the MI rows ran), MIAgentTest whether
	// --mi-agent-test was (P3-MI ran).
	SQLReadiness, MIReadiness, MIAgentTest bool
	// Databases is --databases.
	Databases []string
	// DatabaseSize is --database-size; 0 when not given.
	DatabaseSize Size
	// Timeout is --timeout.
	Timeout time.Duration
	// Coordinator, Probe, Peer and SQLHost are the coordinated mode's flags
	// of the same names ("" in the standalone mode); Probe and Peer are the
	// probes the round ran on, and SQLHost the address P3 used.
	Coordinator string
	Probe       string
	Peer        string
	SQLHost     string
	// StandIn is --stand-in (always false in the standalone mode).
	StandIn bool
}

// Summary counts a report's rows by status.
type Summary struct {
	// Pass, Fail, Warn and Skip are the numbers of rows with each status.
	Pass, Fail, Warn, Skip int
}

// Summary counts the rows by status.
func (r Report) Summary() Summary {
	var s Summary
	for _, row := range r.Rows {
		switch row.Status {
		case Pass:
			s.Pass++
		case Fail:
			s.Fail++
		case Warn:
			s.Warn++
		case Skip:
			s.Skip++
		}
	}
	return s
}

// Verdict is a report's answer to "can the link be created?", one of four.
// Pipelines key on its value (JSON "verdict", the JUnit property "verdict").
type Verdict string

// The verdicts, in order of precedence: a report that is incomplete is that
// whatever its rows say; then a failed required row makes it not ready
// whatever else did not run; then a required row that did not run makes it
// partial; only then is it ready.
const (
	// Incomplete: part of the check could not run at all (the coordinator
	// refused the round); the report is no verdict. Exit code 2.
	Incomplete Verdict = "incomplete"
	// NotReady: a required row failed. Exit code 1.
	NotReady Verdict = "not_ready"
	// Partial: every required row that ran passed, but a required row could
	// not run (in the standalone mode P3 and MTU, which need a probe in the
	// MI's VNet). Not a pass: what was not tested is not proven. Exit code 3.
	Partial Verdict = "partial"
	// Ready: every required row ran and passed. Exit code 0.
	Ready Verdict = "ready"
)

// ExitCode is the exit code of `linkmesh check` for the verdict.
func (v Verdict) ExitCode() int {
	switch v {
	case Ready:
		return 0
	case Partial:
		return 3
	case Incomplete:
		return 2
	}
	return 1
}

// Verdict is the report's verdict (see the constants for the precedence).
func (r Report) Verdict() Verdict {
	switch {
	case r.Incomplete != "":
		return Incomplete
	case len(r.Failures()) > 0:
		return NotReady
	case len(r.Untested()) > 0:
		return Partial
	}
	return Ready
}

// Ready reports whether the verdict is Ready: every required row ran and
// passed.
func (r Report) Ready() bool { return r.Verdict() == Ready }

// ExitCode is the exit code the report gives: 0 ready, 1 not ready (a
// required row failed), 2 incomplete, 3 partial.
func (r Report) ExitCode() int { return r.Verdict().ExitCode() }

// Failures returns the rows that fail the run, in report order.
func (r Report) Failures() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Failed() {
			out = append(out, row)
		}
	}
	return out
}

// Untested returns the required rows that did not run (Skip), in report
// order: while there are any, the report is at best Partial. A skip whose
// outcome says the requirement does not apply (NotNeeded) is not among them.
func (r Report) Untested() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Required && row.Status == Skip && !row.NotNeeded {
			out = append(out, row)
		}
	}
	return out
}

// ToComplete says in one sentence what to run so that the rows Untested
// returns run too ("" when there are none): in the standalone mode, the
// coordinated mode with a probe in the MI's VNet for the rows only it can
// test; for any other row, the reason it was skipped, which says what it
// needs. An Incomplete report gives "": its reason says what went wrong.
func (r Report) ToComplete() string {
	if r.Incomplete != "" {
		return ""
	}
	var peer []string
	var other []string
	for _, row := range r.Untested() {
		if r.Mode == "standalone" && peerRow(row.ID) {
			peer = append(peer, row.ID)
			continue
		}
		other = append(other, fmt.Sprintf("%s was skipped (%s)", row.ID, row.Reason))
	}
	var parts []string
	if len(peer) > 0 {
		parts = append(parts, fmt.Sprintf("run the same command with --coordinator <host:port> --tls-ca <ca.crt> --tls-cert <operator>.crt --tls-key <operator>.key --probe <this-probe>, "+
			"with a probe in the MI's VNet (linkmesh probe --site mi) connected to that coordinator: only such a probe can test %s", joinAnd(peer)))
	}
	parts = append(parts, other...)
	if len(parts) == 0 {
		return ""
	}
	return "To complete it, " + strings.Join(parts, "; ") + "."
}

// peerRow reports whether id is a row only a probe in the MI's VNet can test
// (PeerChecks).
func peerRow(id string) bool {
	return slices.ContainsFunc(PeerChecks(Config{}), func(c Check) bool { return c.ID == id })
}

// joinAnd joins ids for a sentence: "P3", "P3 and MTU", "P3, D2 and MTU".
func joinAnd(ids []string) string {
	if len(ids) < 2 {
		return strings.Join(ids, "")
	}
	return strings.Join(ids[:len(ids)-1], ", ") + " and " + ids[len(ids)-1]
}

// ids returns the rows' IDs.
func ids(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}
