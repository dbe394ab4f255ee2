package probe

import (
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/probe/report"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestAttemptCounters: linkmesh_probe_attempts_total counts the planned paths'
// attempts only, as the coordinator's linkmesh_path_probes_total does, and
// labels a port range with the range (the path's identity on the coordinator),
// whatever port an attempt tried; check rounds' attempts go to their own
// counter. Every attempt still reaches the buffer.
func TestAttemptCounters(t *testing.T) {
	buf := report.NewBuffer(100)
	m := newMetrics(buf)
	rec := counting{buf, m}
	const tcp = linkmeshv1.Kind_KIND_TCP
	rec.Record(&linkmeshv1.Result{Kind: tcp, Target: "mi1", TargetSite: "mi", Port: 5022, Code: linkmeshv1.Code_CODE_OK})
	rec.Record(&linkmeshv1.Result{Kind: tcp, Target: "mi-node", TargetSite: "mi", Port: 11000, PortEnd: 11003, ProbedPort: 11002, Code: linkmeshv1.Code_CODE_REFUSED})
	rec.Record(&linkmeshv1.Result{Kind: tcp, Target: "mi-node", TargetSite: "mi", Port: 11000, PortEnd: 11003, ProbedPort: 11000, Code: linkmeshv1.Code_CODE_REFUSED})
	rec.Record(&linkmeshv1.Result{Kind: tcp, Target: "mi1", TargetSite: "mi", Port: 5022, Code: linkmeshv1.Code_CODE_TIMEOUT, Round: "r1"})

	const want = `
# HELP linkmesh_probe_attempts_total Attempts this probe process made on its planned paths, by target and result (check rounds' attempts are in linkmesh_probe_check_round_attempts_total); the coordinator's linkmesh_path_probes_total for the same path counts the same attempts once delivered.
# TYPE linkmesh_probe_attempts_total counter
linkmesh_probe_attempts_total{kind="tcp",port="11000-11003",result="refused",target="mi-node",target_site="mi"} 2
linkmesh_probe_attempts_total{kind="tcp",port="5022",result="ok",target="mi1",target_site="mi"} 1
# HELP linkmesh_probe_check_round_attempts_total Attempts this probe process made for on-demand check rounds (linkmesh check --coordinator), by target and result; no path series counts them.
# TYPE linkmesh_probe_check_round_attempts_total counter
linkmesh_probe_check_round_attempts_total{kind="tcp",port="5022",result="timeout",target="mi1",target_site="mi"} 1
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "linkmesh_probe_attempts_total", "linkmesh_probe_check_round_attempts_total"); err != nil {
		t.Error(err)
	}
	if n := buf.Len(); n != 4 {
		t.Errorf("buffer holds %d results, want all 4", n)
	}
}
