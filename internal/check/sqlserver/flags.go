package sqlserver

import (
	"context"
	"fmt"

	"github.com/linkmesh/linkmesh/internal/check"
)

// queryTraceFlags asks for the two flags the link benefits from. DBCC TRACESTATUS
// with flag numbers returns one row per flag — TraceFlag, Status, Global,
// Session — whether it is on or not.
const queryTraceFlags = `DBCC TRACESTATUS (1800, 9567) WITH NO_INFOMSGS`

// flagState is one row of DBCC TRACESTATUS.
type flagState struct {
	global, session bool
}

// parseTraceStatus reads DBCC TRACESTATUS rows into flag → state. A flag with
// no row is off.
func parseTraceStatus(t Table) map[int64]flagState {
	out := map[int64]flagState{}
	for i := range t.Rows {
		flag, ok := asInt(t.Get(i, "TraceFlag"))
		if !ok {
			continue
		}
		g, _ := asInt(t.Get(i, "Global"))
		sess, _ := asInt(t.Get(i, "Session"))
		out[flag] = flagState{global: g == 1, session: sess == 1}
	}
	return out
}

// flagAdvice is why each flag helps, and what to look at before turning it on.
var flagAdvice = map[int64]struct{ why, offReason string }{
	1800: {
		why:       "Trace flag 1800 makes SQL Server write its log in 4 KB blocks, which avoids slow log writes when this server's log disks have 512-byte sectors and the MI's have 4 KB ones; it is not needed when this server's log disks have 4 KB sectors.",
		offReason: "off: turn it on if this server's log disks have 512-byte sectors (the MI's have 4 KB)",
	},
	9567: {
		why:       "Trace flag 9567 compresses the data stream of automatic seeding: more CPU, and often much less time to copy the databases to the MI.",
		offReason: "off: turning it on compresses initial seeding, often much faster on a slow link",
	},
}

// traceFlag returns the row of one trace flag: advice (warn), never a failure.
func (s *session) traceFlag(flag int64) func(context.Context) check.Outcome {
	return func(ctx context.Context) check.Outcome {
		s.flagsOnce.Do(func() { s.flags, s.flagsErr = s.query(ctx, queryTraceFlags) })
		if s.flagsErr != nil {
			return check.Outcome{Status: check.Warn, Measured: "unknown", Reason: "cannot read DBCC TRACESTATUS: " + oneLine(s.flagsErr)}
		}
		adv := flagAdvice[flag]
		st := parseTraceStatus(s.flags)[flag]
		if st.global {
			return check.Outcome{Status: check.Pass, Measured: "on (global)",
				Reason: fmt.Sprintf("on for the whole server; keep -T%d among the startup parameters so it survives a restart", flag)}
		}
		measured := "off"
		if st.session {
			measured = "on for one session only"
		}
		steps := []check.Step{}
		if flag == 1800 {
			steps = append(steps, check.Step{Text: "See the sector size of the disk that holds the log files (PhysicalBytesPerSectorForAtomicity; replace L: with the log drive):",
				Command: "fsutil fsinfo sectorinfo L:", Shell: check.ShellPowerShell})
		}
		steps = append(steps,
			check.Step{Text: fmt.Sprintf("Add -T%d to the SQL Server service's startup parameters (SQL Server Configuration Manager → the SQL Server service → Properties → Startup Parameters), then restart the service.", flag)},
			check.Step{Text: "To turn it on at once, until the next restart:", Command: fmt.Sprintf("DBCC TRACEON (%d, -1);", flag), Shell: check.ShellTSQL},
		)
		return check.Outcome{Status: check.Warn, Measured: measured, Reason: adv.offReason,
			Fix: &check.Fix{For: check.ForDBA, Summary: adv.why, Steps: steps}}
	}
}
