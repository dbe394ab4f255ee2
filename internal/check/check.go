// Package check is `linkmesh check`: one command that tests every requirement of
// the Azure SQL Managed Instance link it can reach and reports each as a row —
// pass, fail, warn or skip, what was measured, why, and for every failure the fix,
// written for the person who must apply it.
//
// A mode is a list of Checks, one per row. The standalone mode (Standalone) runs on
// the SQL Server host and tests what that host alone can see; the rows that need a
// probe in the MI's virtual network (P3, D2, MTU, BW) are in the list with no Run
// and are skipped with the reason. The coordinated mode fills those rows by
// replacing them (Replace) with checks that ask the mesh. Package sqlserver adds the
// SQL Server readiness rows. Run runs any list and returns its rows; the renderers
// (WriteTable, WriteJSON, WriteJUnit) turn a Report into what people and pipelines
// read.
package check

import (
	"context"
	"fmt"
	"time"
)

// Status is a row's verdict.
type Status string

// The statuses a row can have.
const (
	// Pass: the requirement is met.
	Pass Status = "pass"
	// Fail: a requirement of the link is not met; the row has a Fix.
	Fail Status = "fail"
	// Warn: advice, or a result that is not conclusive; never fails the run.
	Warn Status = "warn"
	// Skip: not tested, and the reason says why (usually: needs the other side).
	Skip Status = "skip"
)

// Statuses lists every Status in the order reports count them.
var Statuses = []Status{Pass, Fail, Warn, Skip}

// Check is one row of the report before it runs: the requirement and how to test
// it. Modes build lists of them; Run runs a list.
type Check struct {
	// ID is the row's stable identifier, e.g. "P1" (the path table in
	// docs/paths.md) or "sql.version". Pipelines key on it.
	ID string
	// What is the requirement in a few words, e.g. "SQL Server host → MI, TCP 5022".
	What string
	// Required says whether the MI link needs this row to pass. A required row
	// that fails makes the run fail (exit code 1); a row that is not required is
	// advice, and a failure of it is reported as Warn.
	Required bool
	// Run tests the requirement. It must honour ctx and end within its own
	// deadlines (every network attempt has one). Nil means this mode cannot test
	// the row: it is skipped with Skip as the reason.
	Run func(ctx context.Context) Outcome
	// Skip is the reason reported when Run is nil.
	Skip string
}

// Outcome is what a Check's Run found.
type Outcome struct {
	// Status is the verdict; always set.
	Status Status
	// Result is the attempt result (attempt.Code's name, e.g. "timeout") when a
	// network attempt decided the row; empty otherwise.
	Result string
	// Measured is what was seen, short: "10.0.1.254", "16.0.4095.4 (RTM CU10)".
	Measured string
	// Reason says in one sentence why the row has its status.
	Reason string
	// Fix says what to change; set on every failure, and on warnings with advice.
	Fix *Fix
	// NotNeeded, on a Skip, says the requirement does not apply to this setup
	// (D2 when the SQL Server host is given by address): nothing is left
	// unproven, so the skip does not make the verdict Partial.
	NotNeeded bool
}

// Row is one requirement after it ran: the Check's identity and its Outcome.
type Row struct {
	// ID, What and Required are the Check's.
	ID       string
	What     string
	Required bool
	// Outcome is what the check found (Skip with the reason for a check with
	// no Run).
	Outcome
	// Duration is how long the check took.
	Duration time.Duration
}

// Failed reports whether the row fails the run.
func (r Row) Failed() bool { return r.Required && r.Status == Fail }

// newRow combines a check and its outcome, keeping the rules every row obeys: a
// status is always one of Statuses, and a row that is not required never fails.
func newRow(c Check, o Outcome, d time.Duration) Row {
	switch o.Status {
	case Pass, Fail, Warn, Skip:
	default:
		o = Outcome{Status: Fail, Reason: fmt.Sprintf("internal error: check %s returned status %q", c.ID, o.Status)}
	}
	if !c.Required && o.Status == Fail {
		o.Status = Warn
	}
	return Row{ID: c.ID, What: c.What, Required: c.Required, Outcome: o, Duration: d}
}

// Replace returns checks with every check whose ID matches one of with replaced
// by it, in place; checks of with that match none are appended. The coordinated
// mode uses it to fill the rows the standalone mode skips.
func Replace(checks []Check, with ...Check) []Check {
	out := append([]Check(nil), checks...)
	for _, w := range with {
		found := false
		for i := range out {
			if out[i].ID == w.ID {
				out[i], found = w, true
				break
			}
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}
