package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestEchoSeries: MTU series only on paths with a check, throughput (in bytes/s,
// the base unit, from the probe's bits/s) only on paths with a burst; echo loss and jitter feed the path gauges; dns paths get
// neither loss nor jitter.
func TestEchoSeries(t *testing.T) {
	clk := &clock{now: t0}
	s := pathstate.New(clk.Now)
	register(s, info("sql01", "sql", "v1.2.3", "linux/amd64"))
	const echo, dns = linkmeshv1.Kind_KIND_ECHO, linkmeshv1.Kind_KIND_DNS
	hole := result(1, t0.Add(-20*time.Second), echo, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0)
	hole.MtuBytes, hole.MtuBlackhole, hole.ThroughputBitsPerSecond = 1400, true, 19.5e6
	hole.LossRatio, hole.Jitter = 0.1, durationpb.New(2*time.Millisecond)
	hole2 := result(2, t0.Add(-10*time.Second), echo, "mi01", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0)
	hole2.Jitter = durationpb.New(4 * time.Millisecond)
	clean := result(3, t0.Add(-10*time.Second), echo, "mi02", "mi", 5023, linkmeshv1.Code_CODE_OK, time.Millisecond, 0)
	clean.MtuBytes = 1500
	lookup := result(4, t0.Add(-10*time.Second), dns, "mi1.example.net", "mi", 0, linkmeshv1.Code_CODE_OK, time.Millisecond, 0)
	lookup.Addresses = []string{"10.1.2.5"}
	ingest(t, s, "sql01", 0, hole, hole2, clean, lookup)

	const want = `
# HELP linkmesh_path_jitter_seconds Echo paths: mean absolute difference between consecutive round trips within each attempt, averaged over the last 5 minutes (tcp paths have none: their attempts are an interval apart; the spread of their RTT is linkmesh_path_rtt_p99_seconds against _p50); absent until an attempt measured it.
# TYPE linkmesh_path_jitter_seconds gauge
linkmesh_path_jitter_seconds{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 0.003
# HELP linkmesh_path_loss_ratio Estimated per-packet loss over the last 5 minutes (at most 256 attempts): 1 - sqrt(exchanges that lost no packet / packet exchanges), an exchange being the handshake's first SYN and its SYN-ACK (tcp, echo) or an echo round trip; assumes the same loss both ways. A failed attempt counts only its own exchanges; attempt failures are in linkmesh_path_probes_total.
# TYPE linkmesh_path_loss_ratio gauge
linkmesh_path_loss_ratio{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 0.05
linkmesh_path_loss_ratio{kind="echo",port="5023",source="sql01",source_site="sql",target="mi02",target_site="mi"} 0
# HELP linkmesh_path_mtu_blackhole 1 when the latest path-MTU check found full-size packets dropped while smaller ones crossed (a path-MTU black hole: replication stalls), else 0 (echo paths with MTU checks only).
# TYPE linkmesh_path_mtu_blackhole gauge
linkmesh_path_mtu_blackhole{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 1
linkmesh_path_mtu_blackhole{kind="echo",port="5023",source="sql01",source_site="sql",target="mi02",target_site="mi"} 0
# HELP linkmesh_path_mtu_bytes Largest packet (bytes) that crossed the path in its latest path-MTU check (echo paths with MTU checks only).
# TYPE linkmesh_path_mtu_bytes gauge
linkmesh_path_mtu_bytes{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 1400
linkmesh_path_mtu_bytes{kind="echo",port="5023",source="sql01",source_site="sql",target="mi02",target_site="mi"} 1500
# HELP linkmesh_path_throughput_bytes_per_second Throughput (TCP payload bytes per second) of the latest bounded burst on the path (echo paths with bursts only).
# TYPE linkmesh_path_throughput_bytes_per_second gauge
linkmesh_path_throughput_bytes_per_second{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 2.4375e+06
`
	c := New(s, settings, self)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"linkmesh_path_mtu_bytes", "linkmesh_path_mtu_blackhole", "linkmesh_path_throughput_bytes_per_second",
		"linkmesh_path_loss_ratio", "linkmesh_path_jitter_seconds"); err != nil {
		t.Error(err)
	}
}
