package statusview

import (
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/internal/remedy"
)

func path(id, src, srcSite, dst, dstSite, state, result string) coordinator.StatusPath {
	p := coordinator.StatusPath{ID: id}
	p.Source, p.SourceSite, p.Target, p.TargetSite, p.Port, p.Kind, p.State, p.LastResult = src, srcSite, dst, dstSite, 5022, "tcp", state, result
	return p
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		sum   coordinator.StatusSummary
		paths int
		word  string
		code  int
	}{
		{coordinator.StatusSummary{Up: 3}, 3, "UP", ExitUp},
		{coordinator.StatusSummary{Up: 2, Down: 1}, 3, "DOWN", ExitDown},
		{coordinator.StatusSummary{Down: 1, Unknown: 1}, 2, "DOWN", ExitDown},
		{coordinator.StatusSummary{Up: 2, Unknown: 1}, 3, "UNKNOWN", ExitUnknown},
		{coordinator.StatusSummary{}, 0, "UNKNOWN", ExitUnknown}, // no paths is no answer, never UP
	}
	for _, tt := range tests {
		st := coordinator.Status{Summary: tt.sum, Paths: make([]coordinator.StatusPath, tt.paths)}
		if w, c := Verdict(st); w != tt.word || c != tt.code {
			t.Errorf("%+v with %d paths: %s %d, want %s %d", tt.sum, tt.paths, w, c, tt.word, tt.code)
		}
	}
	// Every path up, but a rule measures nothing (its site's probe never
	// registered): cannot tell, never UP.
	st := coordinator.Status{Summary: coordinator.StatusSummary{Up: 2}, Paths: make([]coordinator.StatusPath, 2),
		Idle: []coordinator.IdleRule{{Rule: "mi-back", Why: "no registered probe of site mi measures it"}}}
	if w, c := Verdict(st); w != "UNKNOWN" || c != ExitUnknown {
		t.Errorf("all up with an idle rule: %s %d, want UNKNOWN %d", w, c, ExitUnknown)
	}
}

// TestWriteAsymmetric: one direction down, the other up — the text says so,
// lists the down path with its explanation and, with Explain, the fix; an
// unknown path says why.
func TestWriteAsymmetric(t *testing.T) {
	down := path("sql1→mi1:5022/tcp", "sql1", "sql", "mi1", "mi", "down", "timeout")
	down.LastExplanation = "no answer before the deadline"
	down.Fix = remedy.ForPath(remedy.Path{Kind: "tcp", SourceSite: "sql", TargetSite: "mi", Target: "mi1", Port: 5022, Result: "timeout"})
	down.Doc = remedy.DocAnchor("timeout")
	up := path("mi1→sql1:5022/tcp", "mi1", "mi", "sql1", "sql", "up", "ok")
	unk := path("dr1→mi1:5022/tcp", "dr1", "dr", "mi1", "mi", "unknown", "")
	unk.UnknownReason = "probe dr1, which measures it, is down: last report 2m0s ago"
	st := coordinator.Status{Coordinator: "c1", Summary: coordinator.StatusSummary{Up: 1, Down: 1, Unknown: 1},
		Paths: []coordinator.StatusPath{up, down, unk}}
	var b strings.Builder
	if err := Write(&b, st, Options{Explain: true}); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"DOWN: 1 up · 1 down · 1 unknown",
		"SQL Server (sql) ⇄ Managed Instance (mi)",
		"sql → mi: 1 of 1 down   |   mi → sql: all 1 up",
		"⚠ one direction only: sql → mi fails while mi → sql works; fix the rules for sql → mi only.",
		"✗ DOWN  timeout",
		"✗ DOWN  sql1→mi1:5022/tcp: timeout — no answer before the deadline",
		"For the network team: The SQL Server side gets no answer",
		"az network nsg rule create",
		"more: docs/results.md#timeout--packets-are-dropped",
		"? UNKNOWN  dr1→mi1:5022/tcp: probe dr1, which measures it, is down",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q:\n%s", want, text)
		}
	}
	// The sql → mi path comes before mi → sql: the sql site leads.
	if strings.Index(text, "sql→mi ") > strings.Index(text, "mi→sql ") {
		t.Errorf("mi → sql listed first:\n%s", text)
	}
}
