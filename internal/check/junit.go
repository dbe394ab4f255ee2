package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// The JUnit XML elements linkmesh writes: the subset that Jenkins, GitLab, Azure
// Pipelines and GitHub test reporters read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure"`
	Skipped   *junitMessage `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML for CI pipelines: one testcase per
// row; a failed row is a <failure> whose text is the fix, a skipped row a
// <skipped> with the reason, and a warning a passing testcase whose
// <system-out> holds the advice.
func WriteJUnit(w io.Writer, r Report) error {
	s := r.Summary()
	failures := len(r.Failures())
	suite := junitSuite{
		Name: "linkmesh check " + r.Inputs.MI, Tests: len(r.Rows), Failures: failures, Skipped: s.Skip,
		Time: junitTime(r.Duration.Seconds()), Timestamp: r.Started.UTC().Format("2006-01-02T15:04:05"), Hostname: r.Host,
		Properties: []junitProperty{
			{"mode", r.Mode}, {"mi", r.Inputs.MI}, {"linkmesh_version", r.Version},
			{"verdict", string(r.Verdict())}, {"ready", fmt.Sprint(r.Ready())}, {"exit_code", fmt.Sprint(r.ExitCode())},
		},
	}
	if c := r.ToComplete(); c != "" {
		suite.Properties = append(suite.Properties, junitProperty{"to_complete", c})
	}
	if r.Incomplete != "" {
		suite.Properties = append(suite.Properties, junitProperty{"incomplete", r.Incomplete})
	}
	for _, row := range r.Rows {
		c := junitCase{Name: row.ID + " " + row.What, Classname: "linkmesh.check", Time: junitTime(row.Duration.Seconds())}
		msg := row.Reason
		if row.Measured != "" {
			msg = row.Measured + ": " + row.Reason
		}
		switch row.Status {
		case Fail:
			c.Failure = &junitMessage{Message: msg, Type: row.Result, Body: fixText(row.Fix)}
		case Skip:
			c.Skipped = &junitMessage{Message: row.Reason}
		case Warn:
			c.SystemOut = strings.TrimSpace("WARN " + msg + "\n" + fixText(row.Fix))
		case Pass:
			c.SystemOut = "pass " + msg
		}
		suite.Cases = append(suite.Cases, c)
	}
	out := junitSuites{Name: "linkmesh check", Tests: suite.Tests, Failures: failures, Skipped: s.Skip,
		Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// fixText renders a fix as plain text: the summary, then numbered steps with
// their commands on lines of their own.
func fixText(f *Fix) string { return f.Rendered() }

func junitTime(s float64) string { return fmt.Sprintf("%.3f", s) }
