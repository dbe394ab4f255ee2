package exporter

import (
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// seriesNaming counts the exported series with a label whose value is name.
func seriesNaming(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == name {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestForgetAfterSilentProbe: a probe that neither registered nor reported
// for forget_after is forgotten with the paths it measured and the paths that
// measured it; their series leave /metrics, and the paths they held no
// longer count against max_paths_per_probe. A probe that keeps reporting, or
// holds its plan stream open, stays.
func TestForgetAfterSilentProbe(t *testing.T) {
	clk := &clock{now: t0}
	s := pathstate.New(clk.Now)
	s.SetLimits(pathstate.Limits{MaxPathsPerProbe: 2})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(s, settings, self))

	register(s, info("sql01", "sql", "v1", "linux/amd64"))
	register(s, info("mi01", "mi", "v1", "linux/amd64"))
	s.Register(info("old01", "dr", "v1", "linux/amd64")) // no plan stream: it stopped
	s.Register(info("idle01", "dr", "v1", "linux/amd64"))
	s.StreamOpened("idle01") // silent, but its plan stream is open
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ok := linkmeshv1.Code_CODE_OK
	tcp := linkmeshv1.Kind_KIND_TCP
	ingest(t, s, "sql01", 0,
		result(1, at(0), tcp, "mi01", "mi", 5023, ok, time.Millisecond, 0),
		result(2, at(0), tcp, "old01", "dr", 5023, ok, time.Millisecond, 0))
	ingest(t, s, "old01", 0, result(1, at(0), tcp, "mi01", "mi", 5023, ok, time.Millisecond, 0))
	// sql01 is at max_paths_per_probe: a third target is refused.
	st, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{result(3, at(0), tcp, "mi02", "mi", 5023, ok, time.Millisecond, 0)})
	if err != nil || st.Rejected != 1 {
		t.Fatalf("a third path of sql01 before forgetting: rejected %d (%v), want 1", st.Rejected, err)
	}
	if n := seriesNaming(t, reg, "old01"); n == 0 {
		t.Fatal("no series name old01 before it is forgotten")
	}

	// Six days on, the live probes keep reporting; nothing is forgotten yet.
	clk.Advance(6 * 24 * time.Hour)
	ingest(t, s, "sql01", 0)
	ingest(t, s, "mi01", 0)
	if f := s.ForgetSilent(pathstate.DefaultForgetAfter); len(f) != 0 {
		t.Fatalf("forgotten after 6 days of silence: %+v", f)
	}
	// Eight days after its last word, old01 goes with both its paths.
	clk.Advance(2 * 24 * time.Hour)
	f := s.ForgetSilent(pathstate.DefaultForgetAfter)
	if len(f) != 1 || f[0].Name != "old01" || f[0].Site != "dr" || f[0].Paths != 2 || !f[0].LastSeen.Equal(t0) {
		t.Fatalf("forgotten: %+v; want old01 (dr) with 2 paths, last seen at t0", f)
	}
	if s.Known("old01") {
		t.Error("old01 is still known")
	}
	if !s.Known("idle01") || !s.Known("sql01") || !s.Known("mi01") {
		t.Error("a live probe, or one holding its plan stream open, was forgotten")
	}
	for _, p := range s.Snapshot(staleAfter).Paths {
		if p.Source == "old01" || p.Target == "old01" {
			t.Errorf("path %s → %s still in the store", p.Source, p.Target)
		}
	}
	if n := seriesNaming(t, reg, "old01"); n != 0 {
		t.Errorf("%d series still name old01 after it was forgotten", n)
	}
	if n := seriesNaming(t, reg, "sql01"); n == 0 {
		t.Error("sql01's series went too")
	}
	// The path sql01 → old01 no longer counts against sql01's limit.
	st, err = s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{result(4, at(8*24*time.Hour), tcp, "mi02", "mi", 5023, ok, time.Millisecond, 0)})
	if err != nil || st.Rejected != 0 {
		t.Fatalf("a real path of sql01 after forgetting: rejected %d (%v), want 0", st.Rejected, err)
	}
	// Forgotten once: the next look finds nothing more.
	if f := s.ForgetSilent(pathstate.DefaultForgetAfter); len(f) != 0 {
		t.Errorf("forgotten again: %+v", f)
	}
}
