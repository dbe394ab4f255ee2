package check

import "time"

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
	// coordinator refused the round): the report is not a verdict, and the
	// exit code is 2.
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
	// SQLReadiness says whether a DSN was given (the readiness rows ran).
	SQLReadiness bool
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

// Ready reports whether no required row failed: the exit code is 0 when it is
// true, 1 when not.
func (r Report) Ready() bool { return r.Incomplete == "" && len(r.Failures()) == 0 }

// ExitCode is the exit code the report gives: 0 ready, 1 a required row
// failed, 2 incomplete.
func (r Report) ExitCode() int {
	switch {
	case r.Incomplete != "":
		return 2
	case r.Ready():
		return 0
	}
	return 1
}

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
