package check

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Column widths of the table; longer cells wrap onto more lines. IDs and
// statuses never wrap.
const (
	widthWhat     = 34
	widthMeasured = 28
	widthReason   = 56
	widthText     = 100 // fix and note paragraphs
)

// WriteTable writes the report for people: a header, one row per requirement,
// a verdict, then the fix of every failure (and the advice of warnings) grouped
// by who applies it, the seeding estimate, and what a connect test cannot prove.
func WriteTable(w io.Writer, r Report) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "linkmesh check (%s) on %s → MI %s\n", r.Mode, r.Host, r.Inputs.MI)
	if r.Inputs.Coordinator != "" {
		fmt.Fprintf(ew, "through coordinator %s: probe %s (SQL Server host, reached at %s) ⇄ probe %s (MI's VNet)\n", r.Inputs.Coordinator, r.Inputs.Probe, r.Inputs.SQLHost, r.Inputs.Peer)
	}
	fmt.Fprintf(ew, "%s, took %s, linkmesh %s\n\n", r.Started.UTC().Format("2006-01-02 15:04:05 MST"), roundDuration(r.Duration), r.Version)

	var grid strings.Builder
	tw := tabwriter.NewWriter(&grid, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tREQUIREMENT\tMEASURED\tREASON")
	for _, row := range r.Rows {
		cells := [][]string{{row.ID}, {statusWord(row.Status)}, wrap(row.What, widthWhat), wrap(row.Measured, widthMeasured), wrap(row.Reason, widthReason)}
		lines := 0
		for _, c := range cells {
			lines = max(lines, len(c))
		}
		for i := range lines {
			parts := make([]string, len(cells))
			for j, c := range cells {
				if i < len(c) {
					parts[j] = c[i]
				}
			}
			// Every line has every cell: a line with fewer would end tabwriter's
			// column block and misalign the rows after it.
			fmt.Fprintln(tw, strings.Join(parts, "\t"))
		}
	}
	tw.Flush()
	for _, l := range strings.SplitAfter(grid.String(), "\n") {
		if l != "" {
			fmt.Fprintln(ew, strings.TrimRight(l, " \n"))
		}
	}

	fmt.Fprintln(ew)
	writeVerdict(ew, r)

	writeFixes(ew, r.Rows)

	if r.Seeding.DatabaseSize > 0 {
		fmt.Fprintln(ew, "\nSEEDING")
		for _, l := range wrap(r.Seeding.Note, widthText) {
			fmt.Fprintln(ew, "  "+l)
		}
	}
	fmt.Fprintln(ew, "\nNOTE")
	for _, l := range wrap(connectCaveat, widthText) {
		fmt.Fprintln(ew, "  "+l)
	}
	return ew.err
}

// writeVerdict writes the verdict line — the verdict in capitals, why, the
// row counts and the exit code — and, when required rows did not run, one
// line that says what to run to complete the check.
func writeVerdict(w io.Writer, r Report) {
	v := r.Verdict()
	untested := ids(r.Untested())
	switch v {
	case Incomplete:
		fmt.Fprintf(w, "INCOMPLETE: %s.", r.Incomplete)
	case NotReady:
		failed := ids(r.Failures())
		fmt.Fprintf(w, "NOT READY: %d required %s failed (%s)", len(failed), plural(len(failed), "row", "rows"), strings.Join(failed, ", "))
		if len(untested) > 0 {
			fmt.Fprintf(w, ", and %s did not run", joinAnd(untested))
		}
		fmt.Fprint(w, ".")
	case Partial:
		fmt.Fprintf(w, "PARTIAL: every required row that ran passed, but %s did not run, so %s not proven.",
			joinAnd(untested), plural(len(untested), "it is", "they are"))
	default:
		fmt.Fprint(w, "READY: every required row ran and passed.")
	}
	s := r.Summary()
	fmt.Fprintf(w, " %d passed, %d failed, %d %s, %d skipped. Verdict %s, exit code %d.\n",
		s.Pass, s.Fail, s.Warn, plural(s.Warn, "warning", "warnings"), s.Skip, v, v.ExitCode())
	if c := r.ToComplete(); c != "" {
		fmt.Fprintln(w, c)
	}
}

// connectCaveat is what no connect test can rule out (DESIGN §1).
const connectCaveat = "A completed TCP handshake proves the path is open to something, not that the mirroring protocol gets through: a firewall that inspects traffic may still block it, and a device in the middle may answer for the MI. Run the check again after every network change."

// writeFixes writes the fix of every failed row, then the advice of warnings.
func writeFixes(w io.Writer, rows []Row) {
	var fails, advice []Row
	for _, r := range rows {
		switch {
		case r.Fix == nil:
		case r.Status == Fail:
			fails = append(fails, r)
		case r.Status == Warn || r.Status == Skip:
			// A skip with a fix ran but proved nothing (P2 on the MI's
			// address): what the fix says may still be what is wrong.
			advice = append(advice, r)
		}
	}
	for _, sec := range []struct {
		title string
		rows  []Row
	}{{"FIXES", fails}, {"ADVICE", advice}} {
		if len(sec.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", sec.title)
		for _, r := range sec.rows {
			fmt.Fprintf(w, "\n%s — for the %s\n", r.ID, r.Fix.For)
			for _, l := range wrap(r.Fix.Summary, widthText) {
				fmt.Fprintln(w, "  "+l)
			}
			for i, st := range r.Fix.Steps {
				prefix := fmt.Sprintf("  %d. ", i+1)
				for j, l := range wrap(st.Text, widthText-len(prefix)) {
					if j > 0 {
						prefix = strings.Repeat(" ", len(prefix))
					}
					fmt.Fprintln(w, prefix+l)
				}
				if st.Command != "" {
					fmt.Fprintf(w, "%s  %s\n", strings.Repeat(" ", len(prefix)), st.Command)
				}
			}
		}
	}
}

// statusWord makes failures and warnings stand out in the table.
func statusWord(s Status) string {
	if s == Fail || s == Warn {
		return strings.ToUpper(string(s))
	}
	return string(s)
}

// wrap breaks s into lines of at most width characters at spaces; a word
// longer than width gets a line of its own. Empty s gives one empty line.
func wrap(s string, width int) []string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return []string{""}
	}
	var lines []string
	line := words[0]
	for _, word := range words[1:] {
		if len([]rune(line))+1+len([]rune(word)) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		line += " " + word
	}
	return append(lines, line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// errWriter keeps the first write error so the renderers can write freely and
// report it once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
