// Package statusview prints the coordinator's status (coordinator.Status,
// the /api/v1/status answer) for a terminal: per site pair both directions,
// each path's state, result and figures, what is wrong and — with Explain —
// what to change; the probes; the last check rounds. `linkmesh status` and
// the demo print with it.
package statusview

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
)

// Exit codes of Verdict.
const (
	ExitUp      = 0 // every path up
	ExitDown    = 1 // a path down
	ExitUnknown = 2 // cannot tell: a path unknown (none down), no path, or no answer
)

// Verdict is the one-word state of the whole mesh and its exit code: DOWN
// when any path is down, UNKNOWN when any is unknown, there are none, or a
// rule of the policy measures nothing (a site whose probe never registered);
// UP only when every path is up and every rule measures.
func Verdict(st coordinator.Status) (string, int) {
	switch {
	case st.Summary.Down > 0:
		return "DOWN", ExitDown
	case st.Summary.Unknown > 0 || len(st.Paths) == 0 || len(st.Idle) > 0:
		return "UNKNOWN", ExitUnknown
	}
	return "UP", ExitUp
}

// Options shape the text.
type Options struct {
	// Explain adds each problem's fix, step by step.
	Explain bool
	// Probes and Rounds add those sections.
	Probes, Rounds bool
}

var symbol = map[string]string{"up": "✓ UP", "down": "✗ DOWN", "unknown": "? UNKNOWN"}

// Write prints st.
func Write(w io.Writer, st coordinator.Status, o Options) error {
	ew := &errWriter{w: w}
	verdict, _ := Verdict(st)
	fmt.Fprintf(ew, "linkmesh %s (%s) · as of %s · window %s\n", st.Coordinator, st.Version, st.Generated.Local().Format("15:04:05"), st.Window)
	fmt.Fprintf(ew, "%s: %d up · %d down · %d unknown\n", verdict, st.Summary.Up, st.Summary.Down, st.Summary.Unknown)
	if len(st.Paths) == 0 {
		fmt.Fprintln(ew, "\nNo paths yet: no probe has a plan, or none has reported.")
	}
	for _, pr := range pairs(st.Paths) {
		writePair(ew, pr)
	}
	writeProblems(ew, st.Paths, o.Explain)
	if len(st.Idle) > 0 {
		fmt.Fprintln(ew, "\nRules that measure nothing (so nothing proves what they should):")
		for _, r := range st.Idle {
			fmt.Fprintf(ew, "  ? %s: %s\n", r.Rule, r.Why)
		}
	}
	if o.Probes {
		writeProbes(ew, st)
	}
	if o.Rounds {
		writeRounds(ew, st)
	}
	return ew.err
}

// pair is two sites and the paths between them, by direction.
type pair struct {
	a, b      string
	fwd, back []coordinator.StatusPath
}

// pairs groups paths by site pair, the sql site first.
func pairs(paths []coordinator.StatusPath) []*pair {
	var out []*pair
	index := map[[2]string]*pair{}
	for _, p := range paths {
		a, b := p.SourceSite, p.TargetSite
		if b == "sql" || (a != "sql" && b < a) {
			a, b = b, a
		}
		pr := index[[2]string{a, b}]
		if pr == nil {
			pr = &pair{a: a, b: b}
			index[[2]string{a, b}] = pr
			out = append(out, pr)
		}
		if p.SourceSite == a {
			pr.fwd = append(pr.fwd, p)
		} else {
			pr.back = append(pr.back, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].a+"\x00"+out[i].b < out[j].a+"\x00"+out[j].b })
	return out
}

var sideName = map[string]string{"sql": "SQL Server", "mi": "Managed Instance"}

func site(s string) string {
	if n, ok := sideName[s]; ok {
		return n + " (" + s + ")"
	}
	return s
}

// tally is "2 of 3 down" or "all 3 up" for a direction.
func tally(ps []coordinator.StatusPath) string {
	if len(ps) == 0 {
		return "no paths"
	}
	n := map[string]int{}
	for _, p := range ps {
		n[p.State]++
	}
	switch {
	case n["up"] == len(ps):
		return fmt.Sprintf("all %d up", len(ps))
	case n["down"] > 0:
		return fmt.Sprintf("%d of %d down", n["down"], len(ps))
	}
	return fmt.Sprintf("%d of %d unknown", n["unknown"], len(ps))
}

func allUp(ps []coordinator.StatusPath) bool {
	for _, p := range ps {
		if p.State != "up" {
			return false
		}
	}
	return len(ps) > 0
}

func anyDown(ps []coordinator.StatusPath) bool {
	for _, p := range ps {
		if p.State == "down" {
			return true
		}
	}
	return false
}

func writePair(w io.Writer, pr *pair) {
	fmt.Fprintf(w, "\n%s ⇄ %s\n", site(pr.a), site(pr.b))
	if pr.a != pr.b {
		fmt.Fprintf(w, "  %s → %s: %s   |   %s → %s: %s\n", pr.a, pr.b, tally(pr.fwd), pr.b, pr.a, tally(pr.back))
		switch {
		case anyDown(pr.fwd) && allUp(pr.back):
			fmt.Fprintf(w, "  ⚠ one direction only: %s → %s fails while %s → %s works; fix the rules for %s → %s only.\n", pr.a, pr.b, pr.b, pr.a, pr.a, pr.b)
		case anyDown(pr.back) && allUp(pr.fwd):
			fmt.Fprintf(w, "  ⚠ one direction only: %s → %s fails while %s → %s works; fix the rules for %s → %s only.\n", pr.b, pr.a, pr.a, pr.b, pr.b, pr.a)
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DIRECTION\tSTATE\tRESULT\tPATH\tRTT p50/p99\tLOSS\tFAILED\tLAST\tMTU")
	for _, ps := range [][]coordinator.StatusPath{pr.fwd, pr.back} {
		for _, p := range ps {
			fmt.Fprintf(tw, "  %s→%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.SourceSite, p.TargetSite, symbol[p.State], orDash(p.LastResult),
				label(p), rtt(p), loss(p), failed(p), age(p.AgeSeconds), mtu(p))
		}
	}
	tw.Flush()
}

// label is "sql1 → mi1:5022 tcp (P1)".
func label(p coordinator.StatusPath) string {
	port := fmt.Sprint(p.Port)
	if p.PortEnd > p.Port {
		port = fmt.Sprintf("%d-%d", p.Port, p.PortEnd)
	}
	s := fmt.Sprintf("%s → %s:%s %s", p.Source, p.Target, port, p.Kind)
	if p.Role != "" && p.Role != "echo" {
		s += " (" + strings.ToUpper(p.Role) + ")"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func ms(v float64) string {
	switch {
	case v <= 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func rtt(p coordinator.StatusPath) string {
	if p.Window == nil || p.Window.OK == 0 {
		return "–"
	}
	return ms(p.Window.RTTP50Milli) + "/" + ms(p.Window.RTTP99Milli) + " ms"
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

func loss(p coordinator.StatusPath) string {
	if p.Window == nil || p.Kind != "echo" {
		return "–"
	}
	return pct(p.Window.LossRatio)
}

func failed(p coordinator.StatusPath) string {
	if p.Window == nil {
		return "–"
	}
	return pct(p.Window.FailureRatio)
}

func age(s *float64) string {
	if s == nil {
		return "never"
	}
	return (time.Duration(*s * float64(time.Second))).Round(time.Second).String() + " ago"
}

func mtu(p coordinator.StatusPath) string {
	if p.MTUBytes == 0 {
		return "–"
	}
	if p.MTUBlackhole != nil && *p.MTUBlackhole {
		return fmt.Sprintf("%d BLACK HOLE", p.MTUBytes)
	}
	return fmt.Sprint(p.MTUBytes)
}

// writeProblems lists the paths that are not up: why, and with explain the fix.
func writeProblems(w io.Writer, paths []coordinator.StatusPath, explain bool) {
	var bad []coordinator.StatusPath
	for _, p := range paths {
		if p.State != "up" {
			bad = append(bad, p)
		}
	}
	if len(bad) == 0 {
		return
	}
	fmt.Fprintln(w, "\nNot up:")
	for _, p := range bad {
		fmt.Fprintf(w, "  %s  %s", symbol[p.State], p.ID)
		if p.State == "unknown" {
			fmt.Fprintf(w, ": %s\n", orDash(p.UnknownReason))
			continue
		}
		fmt.Fprintf(w, ": %s — %s\n", p.LastResult, p.LastExplanation)
		if p.LastDetail != "" {
			fmt.Fprintf(w, "      the probe said: %s\n", p.LastDetail)
		}
		if !explain || p.Fix == nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimRight(p.Fix.Rendered(), "\n"), "\n") {
			fmt.Fprintf(w, "      %s\n", line)
		}
		if p.Doc != "" {
			fmt.Fprintf(w, "      more: docs/results.md#%s\n", p.Doc)
		}
	}
	if !explain {
		fmt.Fprintln(w, "  (--explain says what to change)")
	}
}

func writeProbes(w io.Writer, st coordinator.Status) {
	fmt.Fprintln(w, "\nProbes:")
	if len(st.Probes) == 0 {
		fmt.Fprintln(w, "  none has registered")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PROBE\tSITE\tSTATE\tVERSION\tOS\tLAST REPORT\tGOSSIP\tBACKLOG\tDROPPED")
	for _, p := range st.Probes {
		state := "down"
		if p.Up {
			state = "up"
		}
		last := "never"
		if p.LastReport != nil {
			last = st.Generated.Sub(*p.LastReport).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", p.Name, p.Site, symbol[state], orDash(p.Version), orDash(p.OS), last, orDash(p.Gossip), p.Backlog, p.Dropped)
	}
	tw.Flush()
}

func writeRounds(w io.Writer, st coordinator.Status) {
	if len(st.Rounds) == 0 {
		return
	}
	fmt.Fprintln(w, "\nLast check rounds:")
	for _, r := range st.Rounds {
		var rows []string
		for _, row := range r.Rows {
			rows = append(rows, row.Role+" "+orDash(row.Latest))
		}
		fmt.Fprintf(w, "  %s  %s  by %s  %s ↔ %s  %s in %s: %s\n", r.ID, r.Started.Local().Format("15:04:05"), r.Caller, r.Probe, r.Peer,
			r.Outcome, r.Took.Round(100*time.Millisecond), strings.Join(rows, ", "))
	}
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, nil
}
