package exporter

import (
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fixed is a Source with a given snapshot and window statistics.
type fixed struct {
	snap  pathstate.Snapshot
	stats map[pathstate.Key]pathstate.Stats
}

func (f fixed) Snapshot(time.Duration) pathstate.Snapshot          { return f.snap }
func (f fixed) Window(time.Time) map[pathstate.Key]pathstate.Stats { return f.stats }

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func path(target string, kind linkmeshv1.Kind) pathstate.Path {
	return pathstate.Path{Key: pathstate.Key{Source: "sql01", SourceSite: "sql", Target: target, TargetSite: "mi", Port: 5023, Kind: kind},
		Last: linkmeshv1.Code_CODE_OK, LastTime: now}
}

// TestEchoSeries: MTU series only on paths with a check, throughput only on
// paths with a burst; echo loss and jitter feed the path gauges.
func TestEchoSeries(t *testing.T) {
	hole := path("mi01", linkmeshv1.Kind_KIND_ECHO)
	hole.MTU, hole.MTUBlackhole, hole.MTUTime = 1400, true, now
	hole.Throughput, hole.ThroughputTime = 19.5e6, now
	clean := path("mi02", linkmeshv1.Kind_KIND_ECHO)
	clean.MTU, clean.MTUTime = 1500, now
	plain := path("mi03", linkmeshv1.Kind_KIND_TCP)
	dns := path("mi04", linkmeshv1.Kind_KIND_DNS)
	src := fixed{
		snap: pathstate.Snapshot{Taken: now,
			Probes: []pathstate.ProbeState{{Probe: pathstate.Probe{Info: &linkmeshv1.ProbeInfo{Name: "sql01", Site: "sql"}, LastReport: now}, Up: true}},
			Paths:  []pathstate.Path{hole, clean, plain, dns}},
		stats: map[pathstate.Key]pathstate.Stats{
			hole.Key: {Attempts: 3, OK: 3, LossRatio: 0.05, Jitter: 2 * time.Millisecond},
			dns.Key:  {Attempts: 3, OK: 3},
		},
	}
	c := New(src, func() time.Duration { return time.Minute })
	const want = `
# HELP linkmesh_path_jitter_seconds Mean absolute difference between consecutive RTTs over the last 5 minutes (echo: between the round trips of each attempt).
# TYPE linkmesh_path_jitter_seconds gauge
linkmesh_path_jitter_seconds{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 0.002
# HELP linkmesh_path_loss_ratio Estimated packet loss over the last 5 minutes: resent SYNs per SYN sent (tcp) or resent segments of the round trips (echo), counting attempts that got no answer as lost.
# TYPE linkmesh_path_loss_ratio gauge
linkmesh_path_loss_ratio{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 0.05
# HELP linkmesh_path_mtu_blackhole 1 when the latest path-MTU check found full-size packets dropped while smaller ones crossed (a path-MTU black hole: replication stalls), else 0 (echo paths with MTU checks only).
# TYPE linkmesh_path_mtu_blackhole gauge
linkmesh_path_mtu_blackhole{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 1
linkmesh_path_mtu_blackhole{kind="echo",port="5023",source="sql01",source_site="sql",target="mi02",target_site="mi"} 0
# HELP linkmesh_path_mtu_bytes Largest packet (bytes) that crossed the path in its latest path-MTU check (echo paths with MTU checks only).
# TYPE linkmesh_path_mtu_bytes gauge
linkmesh_path_mtu_bytes{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 1400
linkmesh_path_mtu_bytes{kind="echo",port="5023",source="sql01",source_site="sql",target="mi02",target_site="mi"} 1500
# HELP linkmesh_path_throughput_bits_per_second Throughput of the latest bounded burst on the path (echo paths with bursts only).
# TYPE linkmesh_path_throughput_bits_per_second gauge
linkmesh_path_throughput_bits_per_second{kind="echo",port="5023",source="sql01",source_site="sql",target="mi01",target_site="mi"} 1.95e+07
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"linkmesh_path_mtu_bytes", "linkmesh_path_mtu_blackhole", "linkmesh_path_throughput_bits_per_second",
		"linkmesh_path_loss_ratio", "linkmesh_path_jitter_seconds"); err != nil {
		t.Error(err)
	}
}
