package sqlserver

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/linkmesh/linkmesh/internal/check"
)

// Build is a SQL Server build number, as SERVERPROPERTY('ProductVersion') gives
// it: major.minor.build.revision, e.g. 16.0.4095.4.
type Build [4]int

// ParseBuild reads "16.0.4095.4" (missing trailing parts read as 0).
func ParseBuild(s string) (Build, error) {
	var b Build
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) < 2 || len(parts) > 4 {
		return b, fmt.Errorf("version %q: want major.minor.build.revision", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return b, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		b[i] = n
	}
	return b, nil
}

// Less reports whether b is an older build than o.
func (b Build) Less(o Build) bool {
	for i := range b {
		if b[i] != o[i] {
			return b[i] < o[i]
		}
	}
	return false
}

// String renders the build as SQL Server does: "16.0.4095.4".
func (b Build) String() string { return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3]) }

// release is what the MI link needs of one SQL Server major version (DESIGN §1,
// from Microsoft's MI link documentation).
type release struct {
	name    string // "SQL Server 2019"
	minimum Build
	update  string // what to install to reach minimum
	// twoWay, when set, is the build that MI → SQL Server (failing back, or the
	// MI as the primary) needs beyond minimum.
	twoWay       Build
	twoWayUpdate string
}

var releases = map[int]release{
	13: {name: "SQL Server 2016", minimum: Build{13, 0, 7000, 253},
		update: "Service Pack 3 (13.0.6300.2), then the Azure Connect feature pack for SQL Server 2016 SP3 (13.0.7000.253)"},
	14: {name: "SQL Server 2017", minimum: Build{14, 0, 3490, 10},
		update: "Cumulative Update 31 (14.0.3456.2), then the Azure Connect feature pack for SQL Server 2017 CU31 (14.0.3490.10)"},
	15: {name: "SQL Server 2019", minimum: Build{15, 0, 4312, 2},
		update: "Cumulative Update 20 (15.0.4312.2) or a later cumulative update"},
	16: {name: "SQL Server 2022", minimum: Build{16, 0, 1000, 6}, update: "the RTM release (16.0.1000.6) or later",
		twoWay: Build{16, 0, 4095, 4}, twoWayUpdate: "Cumulative Update 10 (16.0.4095.4) or later"},
	17: {name: "SQL Server 2025", minimum: Build{17, 0, 1000, 7},
		update: "the RTM release (17.0.1000.7) or later; preview builds cannot use the link"},
}

// serverVersion is what SERVERPROPERTY tells about the build.
type serverVersion struct {
	version, level, update, edition string
}

// measured renders the build for the report: "15.0.4312.2 RTM CU20, Enterprise Edition (64-bit)".
func (v serverVersion) measured() string {
	s := v.version
	for _, p := range []string{v.level, v.update} {
		if p != "" {
			s += " " + p
		}
	}
	if v.edition != "" {
		s += ", " + v.edition
	}
	return s
}

// judgeVersion is the sql.version row: the build against its major version's
// minimum for the MI link.
func judgeVersion(v serverVersion) check.Outcome {
	o := check.Outcome{Measured: v.measured()}
	b, err := ParseBuild(v.version)
	if err != nil {
		o.Status, o.Reason = check.Fail, fmt.Sprintf("cannot read the build: %v", err)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: "linkmesh could not read SQL Server's build number.",
			Steps: []check.Step{{Text: "Read it yourself and compare it with the minimum builds in docs/check.md (2016: 13.0.7000.253, 2017: 14.0.3490.10, 2019: 15.0.4312.2, 2022: 16.0.1000.6, 2025: 17.0.1000.7):",
				Command: "SELECT SERVERPROPERTY('ProductVersion'), SERVERPROPERTY('ProductLevel'), SERVERPROPERTY('ProductUpdateLevel');", Shell: check.ShellTSQL}}}
		return o
	}
	rel, known := releases[b[0]]
	switch {
	case b[0] < 13:
		o.Status = check.Fail
		o.Reason = fmt.Sprintf("SQL Server %s is older than SQL Server 2016, the first version the MI link supports", b)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: "This SQL Server version cannot take part in an MI link.",
			Steps: []check.Step{{Text: "Upgrade to SQL Server 2016 SP3 with the Azure Connect feature pack, 2017 CU31 with the Azure Connect feature pack, 2019 CU20, 2022 or 2025 (a newer version is better: fewer limitations)."}}}
	case !known:
		o.Status = check.Pass
		o.Reason = "newer than SQL Server 2025, the latest version linkmesh knows; check Microsoft's MI link documentation for its minimum build"
	case b.Less(rel.minimum):
		o.Status = check.Fail
		o.Reason = fmt.Sprintf("%s is below the MI link's minimum for %s, %s", b, rel.name, rel.minimum)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("%s build %s cannot take part in an MI link.", rel.name, b),
			Steps: []check.Step{{Text: fmt.Sprintf("Install %s, then run linkmesh check again.", rel.update)}}}
	case rel.twoWay != (Build{}) && b.Less(rel.twoWay):
		o.Status = check.Warn
		o.Reason = fmt.Sprintf("enough for SQL Server → MI; MI → SQL Server (failing back, or the MI as primary) needs %s", rel.twoWay)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("%s build %s can replicate to the MI but not back.", rel.name, b),
			Steps: []check.Step{{Text: fmt.Sprintf("To fail back from the MI to this SQL Server, install %s.", rel.twoWayUpdate)}}}
	default:
		o.Status = check.Pass
		o.Reason = fmt.Sprintf("%s at or above the MI link's minimum %s", rel.name, rel.minimum)
	}
	return o
}
