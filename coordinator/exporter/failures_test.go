package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFailureSeries: linkmesh_path_failures_total counts attempts by the rule
// of linkmesh_path_up: a refusal fails a single port, but not a port range
// with refused_ok (the host answered); it counts every attempt, and stays
// when the window empties.
func TestFailureSeries(t *testing.T) {
	clk := &clock{now: t0}
	s := pathstate.New(clk.Now)
	register(s, info("sql01", "sql", "v1.2.3", "linux/amd64"))
	const tcp = linkmeshv1.Kind_KIND_TCP
	const ok, refused, timeout = linkmeshv1.Code_CODE_OK, linkmeshv1.Code_CODE_REFUSED, linkmeshv1.Code_CODE_TIMEOUT
	ranged := func(seq uint64, at time.Duration, code linkmeshv1.Code) *linkmeshv1.Result {
		r := result(seq, t0.Add(at), tcp, "mi-node", "mi", 11000, code, 0, 0)
		r.PortEnd, r.RefusedIsReach, r.ProbedPort = 11003, true, 11001
		return r
	}
	ingest(t, s, "sql01", 0,
		// the single port: an old failure (out of the window), then 1 of 4 fails
		result(1, t0.Add(-10*time.Minute), tcp, "mi01", "mi", 5022, timeout, 0, 0),
		result(2, t0.Add(-40*time.Second), tcp, "mi01", "mi", 5022, ok, time.Millisecond, 0),
		result(3, t0.Add(-30*time.Second), tcp, "mi01", "mi", 5022, refused, 0, 0),
		result(4, t0.Add(-20*time.Second), tcp, "mi01", "mi", 5022, ok, time.Millisecond, 0),
		result(5, t0.Add(-10*time.Second), tcp, "mi01", "mi", 5022, ok, time.Millisecond, 0),
		// the range: refusals are the host answering; only the timeout fails
		ranged(6, -40*time.Second, refused),
		ranged(7, -30*time.Second, refused),
		ranged(8, -20*time.Second, timeout),
		ranged(9, -10*time.Second, ok),
	)
	const want = `
# HELP linkmesh_path_failures_total Attempts on the path that failed: every result but ok, and but refused on a port range with refused_ok (the rule of linkmesh_path_up).
# TYPE linkmesh_path_failures_total counter
linkmesh_path_failures_total{kind="tcp",port="11000-11003",source="sql01",source_site="sql",target="mi-node",target_site="mi"} 1
linkmesh_path_failures_total{kind="tcp",port="5022",source="sql01",source_site="sql",target="mi01",target_site="mi"} 2
`
	c := New(s, settings, self)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "linkmesh_path_failures_total"); err != nil {
		t.Error(err)
	}

	// The window empties: the counter stays.
	clk.Advance(Window + time.Second)
	got := gather(t, newRegistry(t, s))
	if n := len(got["linkmesh_path_failures_total"]); n != 2 {
		t.Errorf("%d linkmesh_path_failures_total series, want 2 (counters stay)", n)
	}
}
