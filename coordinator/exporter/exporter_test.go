package exporter

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.txt from the current output")

const staleAfter = 45 * time.Second

// self is the coordinator's gossip name.
const self = "coordinator:test"

func TestGolden(t *testing.T) {
	s, _ := goldenStore(t)
	reg := newRegistry(t, s)
	const golden = "testdata/metrics.txt"
	if *update {
		// (testutil.GatherAndFormat without names would filter everything out.)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		enc := expfmt.NewEncoder(&out, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(reg, f); err != nil {
		t.Errorf("metrics differ from %s (go test -run TestGolden -update rewrites it):\n%v", golden, err)
	}
}

func TestProbeUpAndPathUp(t *testing.T) {
	s, _ := goldenStore(t)
	got := gather(t, newRegistry(t, s))

	for _, tt := range []struct {
		probe, site string
		want        float64
	}{{"sql01", "sql", 1}, {"sql02", "sql", 0}, {"mi01", "mi", 1}, {"mi02", "mi", 0}} {
		m := got["linkmesh_probe_up"]["probe="+tt.probe+",site="+tt.site]
		if m == nil || m.GetGauge().GetValue() != tt.want {
			t.Errorf("linkmesh_probe_up{probe=%q}: got %v, want %v", tt.probe, m, tt.want)
		}
	}
	if m := got["linkmesh_probe_last_report_timestamp_seconds"]["probe=mi02,site=mi"]; m != nil {
		t.Errorf("last report of a probe that never reported: got %v, want no series", m)
	}

	for _, tt := range []struct {
		name, labels string
		want         *float64 // nil: absent
	}{
		{"ok path of an up probe", pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp"), ptr(1)},
		{"failed path of an up probe", pathLabelString("sql01", "sql", "mi1.example.net", "mi", "5022", "tcp"), ptr(0)},
		{"failed dns path of an up probe", pathLabelString("sql01", "sql", "mi1.example.net", "mi", "0", "dns"), ptr(0)},
		{"path of a stale probe is unknown, not down", pathLabelString("sql02", "sql", "mi01", "mi", "5023", "tcp"), nil},
	} {
		m := got["linkmesh_path_up"][tt.labels]
		switch {
		case tt.want == nil && m != nil:
			t.Errorf("%s: linkmesh_path_up got %v, want absent", tt.name, m.GetGauge().GetValue())
		case tt.want != nil && m == nil:
			t.Errorf("%s: linkmesh_path_up absent, want %v", tt.name, *tt.want)
		case tt.want != nil && m.GetGauge().GetValue() != *tt.want:
			t.Errorf("%s: linkmesh_path_up got %v, want %v", tt.name, m.GetGauge().GetValue(), *tt.want)
		}
	}
}

func ptr(f float64) *float64 { return &f }

// TestPathUpFollowsTheSource: down after a failure, up after a success, absent
// while the source probe is stale, back when it reports again (even empty).
func TestPathUpFollowsTheSource(t *testing.T) {
	clk := &clock{now: t0}
	s := pathstate.New(clk.Now)
	reg := newRegistry(t, s)
	register(s, info("sql01", "sql", "v1", "linux/amd64"))
	labels := pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp")
	pathUp := func() *float64 {
		m := gather(t, reg)["linkmesh_path_up"][labels]
		if m == nil {
			return nil
		}
		return ptr(m.GetGauge().GetValue())
	}
	show := func(f *float64) string {
		if f == nil {
			return "absent"
		}
		return fmt.Sprint(*f)
	}
	steps := []struct {
		name string
		do   func()
		want *float64
	}{
		{"registered, no path yet", func() {}, nil},
		{"failure", func() {
			ingest(t, s, "sql01", 0, result(1, clk.Now(), linkmeshv1.Kind_KIND_TCP, "mi01", "mi", 5023, linkmeshv1.Code_CODE_TIMEOUT, 0, 0))
		}, ptr(0)},
		{"success", func() {
			clk.Advance(time.Second)
			ingest(t, s, "sql01", 0, result(2, clk.Now(), linkmeshv1.Kind_KIND_TCP, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0))
		}, ptr(1)},
		{"exactly stale-after since the report", func() { clk.Advance(staleAfter) }, ptr(1)},
		{"source stale", func() { clk.Advance(time.Millisecond) }, nil},
		{"source reports an empty batch", func() { ingest(t, s, "sql01", 0) }, ptr(1)},
		{"refused", func() {
			ingest(t, s, "sql01", 0, result(3, clk.Now(), linkmeshv1.Kind_KIND_TCP, "mi01", "mi", 5023, linkmeshv1.Code_CODE_REFUSED, 0, 0))
		}, ptr(0)},
	}
	for _, st := range steps {
		st.do()
		if got := pathUp(); show(got) != show(st.want) {
			t.Errorf("%s: linkmesh_path_up got %s, want %s", st.name, show(got), show(st.want))
		}
	}
}

// TestProbesTotalResultsThatHappened: a path has a probes_total series for
// each result from its first attempt with that result on, none for results
// that never happened (linkmesh_path_failures_total, there from the path's
// first attempt, is what sees a first failure); every result is labelled with
// a name of DESIGN §3's list.
func TestProbesTotalResultsThatHappened(t *testing.T) {
	s, _ := goldenStore(t)
	got := gather(t, newRegistry(t, s))["linkmesh_path_probes_total"]
	names := map[string]bool{"ok": true, "refused": true, "timeout": true, "unreachable": true, "dns": true, "reset": true, "mismatch": true, "error": true}
	for code := linkmeshv1.Code_CODE_OK; code <= linkmeshv1.Code_CODE_ERROR; code++ {
		if name := vocab.CodeName(code); !names[name] {
			t.Errorf("code %v has label %q, not in DESIGN §3's list", code, name)
		}
	}
	want := map[string]float64{
		pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp", "result=ok"):                 2,
		pathLabelString("sql02", "sql", "mi01", "mi", "5023", "tcp", "result=unreachable"):        1,
		pathLabelString("sql01", "sql", "mi1.example.net", "mi", "5022", "tcp", "result=ok"):      1,
		pathLabelString("sql01", "sql", "mi1.example.net", "mi", "5022", "tcp", "result=refused"): 1,
		pathLabelString("sql01", "sql", "mi1.example.net", "mi", "0", "dns", "result=dns"):        1,
	}
	for labels, w := range want {
		if m := got[labels]; m == nil {
			t.Errorf("probes_total%s: absent, want %v", labels, w)
		} else if v := m.GetCounter().GetValue(); v != w {
			t.Errorf("probes_total%s: got %v, want %v", labels, v, w)
		}
	}
	for labels := range got {
		if _, ok := want[labels]; !ok {
			t.Errorf("probes_total%s: exported, but that result never happened on the path", labels)
		}
	}
}

// TestRTTQuantiles: the window's median and 99th percentile of successful
// attempts' RTTs, absent where the window has no success.
func TestRTTQuantiles(t *testing.T) {
	s, _ := goldenStore(t)
	got := gather(t, newRegistry(t, s))
	mi01 := pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp")
	if v := got["linkmesh_path_rtt_p50_seconds"][mi01].GetGauge().GetValue(); v != 0.001 {
		t.Errorf("mi01 p50: got %v, want 0.001 (of 1 ms and 2.5 ms, the lower)", v)
	}
	if v := got["linkmesh_path_rtt_p99_seconds"][mi01].GetGauge().GetValue(); v != 0.0025 {
		t.Errorf("mi01 p99: got %v, want 0.0025", v)
	}
	for _, name := range []string{"linkmesh_path_rtt_p50_seconds", "linkmesh_path_rtt_p99_seconds"} {
		for _, labels := range []string{
			pathLabelString("sql02", "sql", "mi01", "mi", "5023", "tcp"),
			pathLabelString("sql01", "sql", "mi1.example.net", "mi", "0", "dns"),
		} {
			if m := got[name][labels]; m != nil {
				t.Errorf("%s%s: %v for a path without a success, want absent", name, labels, m.GetGauge().GetValue())
			}
		}
	}
	if n := len(got["linkmesh_path_rtt_seconds"]); n != 0 {
		t.Errorf("%d linkmesh_path_rtt_seconds histograms with the default settings, want none (metrics.rtt_histogram: classic)", n)
	}
}

// TestRTTHistogramCumulative: bucket counts never decrease, the bound equal to an
// RTT includes it, and count/sum match the observations.
func TestRTTHistogramCumulative(t *testing.T) {
	s, _ := goldenStore(t)
	got := gather(t, classicRegistry(t, s))["linkmesh_path_rtt_seconds"]
	if len(got) != 4 {
		t.Errorf("%d histograms with metrics.rtt_histogram: classic, want 4 (one per path)", len(got))
	}
	for labels, m := range got {
		h := m.GetHistogram()
		var prev uint64
		for _, b := range h.GetBucket() {
			if b.GetCumulativeCount() < prev {
				t.Errorf("%s: bucket le=%v has %d, below the previous bucket's %d", labels, b.GetUpperBound(), b.GetCumulativeCount(), prev)
			}
			prev = b.GetCumulativeCount()
		}
		if prev > h.GetSampleCount() {
			t.Errorf("%s: last bucket %d above the sample count %d", labels, prev, h.GetSampleCount())
		}
		if n := len(h.GetBucket()); n != len(pathstate.Buckets) {
			t.Errorf("%s: got %d buckets, want %d", labels, n, len(pathstate.Buckets))
		}
	}
	h := got[pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp")].GetHistogram()
	want := map[float64]uint64{0.0001: 0, 0.00025: 0, 0.0005: 0, 0.001: 1, 0.0025: 2, 0.005: 2, 10: 2}
	for _, b := range h.GetBucket() {
		if w, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != w {
			t.Errorf("mi01 path bucket le=%v: got %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), w)
		}
	}
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 0.0035 {
		t.Errorf("mi01 path: got count %d sum %v, want 2 and 0.0035", h.GetSampleCount(), h.GetSampleSum())
	}
	// Refused attempts measure an RTT too, but only successes are observed.
	if h := got[pathLabelString("sql01", "sql", "mi1.example.net", "mi", "5022", "tcp")].GetHistogram(); h.GetSampleCount() != 1 {
		t.Errorf("endpoint path: got %d observations, want 1 (the ok attempt only)", h.GetSampleCount())
	}
}

// TestRTTAboveLastBucket: an RTT over 10 s counts in +Inf only.
func TestRTTAboveLastBucket(t *testing.T) {
	clk := &clock{now: t0}
	s := pathstate.New(clk.Now)
	register(s, info("sql01", "sql", "v1", "linux/amd64"))
	ingest(t, s, "sql01", 0, result(1, t0, linkmeshv1.Kind_KIND_TCP, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, 12*time.Second, 0))
	h := gather(t, classicRegistry(t, s))["linkmesh_path_rtt_seconds"][pathLabelString("sql01", "sql", "mi01", "mi", "5023", "tcp")].GetHistogram()
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() != 0 {
			t.Errorf("bucket le=%v: got %d, want 0", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 12 {
		t.Errorf("got count %d sum %v, want 1 and 12", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestEmptyStore(t *testing.T) {
	s := pathstate.New(func() time.Time { return t0 })
	if n := testutil.CollectAndCount(New(s, settings, self)); n != 0 {
		t.Errorf("metrics of an empty store: got %d, want 0", n)
	}
}

// TestLint runs promlint over the collector's output and reports its findings.
func TestLint(t *testing.T) {
	s, _ := goldenStore(t)
	problems, err := testutil.CollectAndLint(New(s, settings, self))
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	t.Logf("promlint: %d problems", len(problems))
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestConcurrentScrapes is for the race detector: scrapes while ingesting.
func TestConcurrentScrapes(t *testing.T) {
	s := pathstate.New(time.Now)
	reg := newRegistry(t, s)
	register(s, info("sql01", "sql", "v1", "linux/amd64"))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			r := result(uint64(i+1), time.Now(), linkmeshv1.Kind_KIND_TCP, fmt.Sprintf("mi%02d", i%7), "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0)
			if _, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{r}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 20 {
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("Gather: %v", err)
		}
	}
	wg.Wait()
}
