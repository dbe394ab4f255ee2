package check

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func fixed(o Outcome) func(context.Context) Outcome {
	return func(context.Context) Outcome { return o }
}

func TestRun(t *testing.T) {
	// Two checks wait for each other: Run must run them at the same time.
	var both sync.WaitGroup
	both.Add(2)
	meet := func(ctx context.Context) Outcome {
		both.Done()
		both.Wait()
		return Outcome{Status: Pass}
	}
	checks := []Check{
		{ID: "A", What: "meets B", Required: true, Run: meet},
		{ID: "B", What: "meets A", Required: true, Run: meet},
		{ID: "C", What: "not run here", Required: true, Skip: "needs the other side"},
		{ID: "D", What: "advice", Run: fixed(Outcome{Status: Fail, Reason: "off"})},
		{ID: "E", What: "broken check", Required: true, Run: fixed(Outcome{})},
		{ID: "F", What: "required failure", Required: true, Run: fixed(Outcome{Status: Fail, Reason: "dropped"})},
	}
	var progress strings.Builder
	rows := Run(t.Context(), checks, &progress)
	var got []string
	for _, r := range rows {
		got = append(got, r.ID+":"+string(r.Status))
	}
	want := []string{"A:pass", "B:pass", "C:skip", "D:warn", "E:fail", "F:fail"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v (in the order of the checks; a failure of advice is a warning; no status is a failure)", got, want)
	}
	if rows[2].Reason != "needs the other side" {
		t.Errorf("skipped row reason %q", rows[2].Reason)
	}
	if !strings.Contains(rows[4].Reason, "internal error") {
		t.Errorf("broken check reason %q", rows[4].Reason)
	}
	r := Report{Rows: rows}
	if r.Ready() || len(r.Failures()) != 2 || r.Summary() != (Summary{Pass: 2, Fail: 2, Warn: 1, Skip: 1}) {
		t.Errorf("Ready %v, Failures %v, Summary %+v", r.Ready(), r.Failures(), r.Summary())
	}
	for _, line := range []string{"[6/6]", "skip C", "warn D", "fail F"} {
		if !strings.Contains(progress.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, progress.String())
		}
	}
}

func TestReplace(t *testing.T) {
	base := []Check{{ID: "P1"}, {ID: "P3", Skip: "needs a probe"}, {ID: "BW"}}
	got := Replace(base, Check{ID: "P3", Run: fixed(Outcome{Status: Pass})}, Check{ID: "X"})
	if len(got) != 4 || got[1].Run == nil || got[3].ID != "X" || base[1].Run != nil {
		t.Errorf("Replace: %+v (base %+v)", got, base)
	}
}

// TestAfter: a check made to run after EP does not start while EP runs (in
// a synctest bubble: every goroutine blocked is a proof, not a guess), starts
// once EP ended, and runs at once when there is no EP to wait for.
func TestAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var started atomic.Bool
		checks := []Check{{ID: "EP", Required: true, Run: func(context.Context) Outcome {
			<-release
			return Outcome{Status: Fail, Reason: "nothing listens"}
		}}}
		later := After(checks, "EP", Check{ID: "P3-MI", Run: func(context.Context) Outcome {
			started.Store(true)
			return Outcome{Status: Pass, Reason: "through the stand-in"}
		}})
		checks = append(checks, later)
		done := make(chan []Row)
		go func() { done <- Run(t.Context(), checks, nil) }()
		synctest.Wait()
		if started.Load() {
			t.Fatal("P3-MI started while EP ran")
		}
		close(release)
		rows := <-done
		if !started.Load() || rows[0].Status != Fail || rows[1].Status != Pass {
			t.Errorf("rows %+v", rows)
		}
	})
	alone := After(nil, "EP", Check{ID: "P3-MI", Run: func(context.Context) Outcome { return Outcome{Status: Pass} }})
	if o := alone.Run(t.Context()); o.Status != Pass {
		t.Errorf("without EP: %+v", o)
	}
}
