// Package exporter turns the coordinator's mesh state into Prometheus metrics at
// scrape time (a prometheus.Collector building const metrics, as node_exporter
// does), so a path or probe that goes away leaves no stale series behind.
package exporter

import (
	"sort"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the collector reads: the coordinator's store. A scrape reads
// it once, so every series of one scrape describes the same moment.
type Source interface {
	View(staleAfter, window time.Duration) pathstate.View
}

// Window is the span loss, jitter and the failure ratio are computed over (at
// most the last 256 attempts of a path).
const Window = 5 * time.Minute

// Label sets of the metrics below.
var (
	pathLabels       = []string{"source", "source_site", "target", "target_site", "port", vocab.KindLabel}
	pathResultLabels = []string{"source", "source_site", "target", "target_site", "port", vocab.KindLabel, vocab.ResultLabel}
	probeLabels      = []string{"probe", "site"}
	probeInfoLabels  = []string{"probe", "site", "version", "os"}
	memberLabels     = []string{"source", "target"}
)

// metric names one of the collector's metrics; it indexes metrics.
type metric int

// The collector's metrics, in the order docs/metrics.md lists them.
const (
	pathUp metric = iota
	pathProbes
	pathFailures
	pathFailRatio
	pathRTT
	pathLastSuccess
	pathSYNRetrans
	pathLoss
	pathJitter
	pathMTU
	pathBlackhole
	pathThroughput
	probeUp
	probeLastReport
	probeInfo
	probeDropped
	probeGaps
	probeGossip
	memberRTT
	numMetrics
)

// metrics defines every metric the collector exports, once: name, value type
// (UntypedValue for the histogram, built apart), labels and help text.
var metrics = [numMetrics]struct {
	name   string
	typ    prometheus.ValueType
	labels []string
	help   string
}{
	pathUp: {"linkmesh_path_up", prometheus.GaugeValue, pathLabels,
		"1 if the latest attempt on the path succeeded (for a port range with refused_ok, also when refused: the host answered), 0 if it failed; absent while the path is unknown (source probe down, or the target probe down for a path to its responder)."},
	pathProbes: {"linkmesh_path_probes_total", prometheus.CounterValue, pathResultLabels,
		"Attempts on the path by result (ok, refused, timeout, unreachable, dns, reset, mismatch, error)."},
	pathFailures: {"linkmesh_path_failures_total", prometheus.CounterValue, pathLabels,
		"Attempts on the path that failed: every result but ok, and but refused on a port range with refused_ok (the rule of linkmesh_path_up)."},
	pathFailRatio: {"linkmesh_path_failure_ratio", prometheus.GaugeValue, pathLabels,
		"Share of the path's attempts in the last 5 minutes (at most the latest 256) that failed, by the rule of linkmesh_path_up: attempt failures, not packet loss."},
	pathRTT: {"linkmesh_path_rtt_seconds", prometheus.UntypedValue, pathLabels,
		"Round-trip time of successful attempts (kernel handshake RTT for tcp where available)."},
	pathLastSuccess: {"linkmesh_path_last_success_timestamp_seconds", prometheus.GaugeValue, pathLabels,
		"Probe-clock time of the latest successful attempt on the path."},
	pathSYNRetrans: {"linkmesh_path_syn_retransmits_total", prometheus.CounterValue, pathLabels,
		"SYNs the kernel had to send again before the handshake completed: each one is a lost packet on the path."},
	pathLoss: {"linkmesh_path_loss_ratio", prometheus.GaugeValue, pathLabels,
		"Estimated per-packet loss over the last 5 minutes (at most 256 attempts): 1 - sqrt(exchanges that lost no packet / packet exchanges), an exchange being the handshake's first SYN and its SYN-ACK (tcp, echo) or an echo round trip; assumes the same loss both ways. A failed attempt counts only its own exchanges; attempt failures are in linkmesh_path_probes_total."},
	pathJitter: {"linkmesh_path_jitter_seconds", prometheus.GaugeValue, pathLabels,
		"Mean absolute difference between consecutive RTTs over the last 5 minutes (echo: between the round trips of each attempt)."},
	pathMTU: {"linkmesh_path_mtu_bytes", prometheus.GaugeValue, pathLabels,
		"Largest packet (bytes) that crossed the path in its latest path-MTU check (echo paths with MTU checks only)."},
	pathBlackhole: {"linkmesh_path_mtu_blackhole", prometheus.GaugeValue, pathLabels,
		"1 when the latest path-MTU check found full-size packets dropped while smaller ones crossed (a path-MTU black hole: replication stalls), else 0 (echo paths with MTU checks only)."},
	pathThroughput: {"linkmesh_path_throughput_bytes_per_second", prometheus.GaugeValue, pathLabels,
		"Throughput (TCP payload bytes per second) of the latest bounded burst on the path (echo paths with bursts only)."},
	probeUp: {"linkmesh_probe_up", prometheus.GaugeValue, probeLabels,
		"1 if the probe reported within the stale-after window, keeps its plan stream open and gossip does not say it is dead or gone; else 0."},
	probeLastReport: {"linkmesh_probe_last_report_timestamp_seconds", prometheus.GaugeValue, probeLabels,
		"Coordinator-clock time of the probe's latest report (sent at least every 10 s)."},
	probeInfo: {"linkmesh_probe_info", prometheus.GaugeValue, probeInfoLabels,
		"Constant 1, labelled with the probe's version and operating system."},
	probeDropped: {"linkmesh_probe_dropped_results_total", prometheus.CounterValue, probeLabels,
		"Results the probe had to drop because its buffer was full while no coordinator took them."},
	probeGaps: {"linkmesh_probe_missing_results_total", prometheus.CounterValue, probeLabels,
		"Sequence numbers this coordinator never received from the probe (dropped or lost before delivery)."},
	probeGossip: {"linkmesh_probe_gossip_alive", prometheus.GaugeValue, probeLabels,
		"1 if gossip sees the probe alive, 0 if dead or left; absent when the probe is not in gossip (--no-gossip)."},
	memberRTT: {"linkmesh_member_rtt_seconds", prometheus.GaugeValue, memberLabels,
		"Latest gossip ping round trip from source to target (members' names; coordinators are coordinator:<name>). Relayed pings are not counted, so a one-way failure can hide behind it: a hint, not a verdict."},
}

// Collector exports the mesh state. Create it with New and register it on the
// coordinator's own registry.
type Collector struct {
	src        Source
	staleAfter func() time.Duration
	self       string
	descs      [numMetrics]*prometheus.Desc
}

// rttFresh is how old a gossip ping may be and still be exported.
const rttFresh = 5 * time.Minute

// New returns a Collector over src. staleAfter returns the current stale-after
// window (it can change with a config reload); self is this coordinator's gossip
// name, the `source` of its own ping round trips.
func New(src Source, staleAfter func() time.Duration, self string) *Collector {
	c := &Collector{src: src, staleAfter: staleAfter, self: self}
	for m, d := range metrics {
		c.descs[m] = prometheus.NewDesc(d.name, d.help, d.labels, nil)
	}
	return c
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// emit sends one sample of m.
func (c *Collector) emit(ch chan<- prometheus.Metric, m metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(c.descs[m], metrics[m].typ, v, labels...)
}

// Collect builds the metrics from one fresh View of the store.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	view := c.src.View(c.staleAfter(), Window)
	snap := &view.Snapshot
	for i := range snap.Probes {
		p := &snap.Probes[i]
		name, site := p.Info.GetName(), p.Info.GetSite()
		c.collectGossip(ch, p, snap.Taken)
		c.emit(ch, probeUp, boolValue(p.Up), name, site)
		if !p.LastReport.IsZero() {
			c.emit(ch, probeLastReport, unixSeconds(p.LastReport), name, site)
		}
		c.emit(ch, probeInfo, 1, name, site, p.Info.GetVersion(), p.Info.GetOs())
		c.emit(ch, probeDropped, float64(p.DroppedTotal), name, site)
		c.emit(ch, probeGaps, float64(p.Gaps), name, site)
	}
	paths := sortedPaths(snap.Paths)
	for _, lp := range paths {
		st, ok := view.Stats[lp.p.Key]
		c.collectPath(ch, lp.p, lp.values, snap.Known(lp.p), st, ok)
		if f, ok := view.Failures[lp.p.Key]; ok {
			c.emit(ch, pathFailRatio, f.Ratio(), lp.values...)
		}
	}
	c.collectResults(ch, paths)
}

// labelledPath is a path with its label values (pathLabels' order).
type labelledPath struct {
	p      *pathstate.Path
	values []string
}

// sortedPaths are the paths in the order the registry sorts each family's
// metrics — by label values, labels taken by name: kind, port, source,
// source_site, target, target_site — so its sort of 300,000 metrics at
// 10,000 paths finds them in order (a linear pass) instead of sorting them.
func sortedPaths(ps []pathstate.Path) []labelledPath {
	out := make([]labelledPath, len(ps))
	for i := range ps {
		out[i] = labelledPath{p: &ps[i], values: pathValues(&ps[i])}
	}
	order := [...]int{5, 4, 0, 1, 2, 3} // kind, port, source, source_site, target, target_site
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].values, out[j].values
		for _, k := range order {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
	return out
}

// resultNames are the result label values in sorted order, with their codes.
var resultNames = func() []linkmeshv1.Code {
	codes := append([]linkmeshv1.Code(nil), vocab.Codes...)
	sort.Slice(codes, func(i, j int) bool { return vocab.CodeName(codes[i]) < vocab.CodeName(codes[j]) })
	return codes
}()

// collectResults emits linkmesh_path_probes_total in the registry's order:
// its `result` label sorts between port and source, so within each kind and
// port, every path's count of one result, then the next result.
func (c *Collector) collectResults(ch chan<- prometheus.Metric, paths []labelledPath) {
	for start := 0; start < len(paths); {
		end := start + 1
		for end < len(paths) && paths[end].values[5] == paths[start].values[5] && paths[end].values[4] == paths[start].values[4] {
			end++
		}
		for _, code := range resultNames {
			name := vocab.CodeName(code)
			for _, lp := range paths[start:end] {
				c.emit(ch, pathProbes, float64(lp.p.Counts[code]), append(lp.values[:len(lp.values):len(lp.values)], name)...)
			}
		}
		start = end
	}
}

func (c *Collector) collectGossip(ch chan<- prometheus.Metric, p *pathstate.ProbeState, now time.Time) {
	name, site := p.Info.GetName(), p.Info.GetSite()
	switch p.Gossip {
	case pathstate.GossipAlive:
		c.emit(ch, probeGossip, 1, name, site)
	case pathstate.GossipDead, pathstate.GossipLeft:
		c.emit(ch, probeGossip, 0, name, site)
	}
	if p.CoordinatorRTT > 0 && now.Sub(p.CoordinatorRTTAt) < rttFresh {
		c.emit(ch, memberRTT, p.CoordinatorRTT.Seconds(), c.self, name)
	}
	for target, r := range p.MemberRTTs {
		if r.RTT > 0 && now.Sub(r.At) < rttFresh {
			c.emit(ch, memberRTT, r.RTT.Seconds(), name, target)
		}
	}
}

func (c *Collector) collectPath(ch chan<- prometheus.Metric, p *pathstate.Path, lv []string, known bool, st pathstate.Stats, haveStats bool) {
	if known && p.Last != linkmeshv1.Code_CODE_UNSPECIFIED {
		c.emit(ch, pathUp, boolValue(p.Up()), lv...)
	}
	c.emit(ch, pathFailures, float64(p.Failures), lv...)
	buckets := make(map[float64]uint64, len(pathstate.Buckets))
	var cum uint64
	for i, ub := range pathstate.Buckets {
		cum += p.BucketCounts[i]
		buckets[ub] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.descs[pathRTT], p.RTTCount, p.RTTSum, buckets, lv...)
	if !p.LastSuccess.IsZero() {
		c.emit(ch, pathLastSuccess, unixSeconds(p.LastSuccess), lv...)
	}
	if p.Kind == linkmeshv1.Kind_KIND_TCP || p.Kind == linkmeshv1.Kind_KIND_ECHO {
		c.emit(ch, pathSYNRetrans, float64(p.SYNRetransmits), lv...)
	}
	if haveStats && p.Kind != linkmeshv1.Kind_KIND_DNS {
		c.emit(ch, pathLoss, st.LossRatio, lv...)
		if st.OK > 1 || (p.Kind == linkmeshv1.Kind_KIND_ECHO && st.Jitter > 0) {
			c.emit(ch, pathJitter, st.Jitter.Seconds(), lv...)
		}
	}
	if !p.MTUTime.IsZero() {
		c.emit(ch, pathMTU, float64(p.MTU), lv...)
		c.emit(ch, pathBlackhole, boolValue(p.MTUBlackhole), lv...)
	}
	if !p.ThroughputTime.IsZero() {
		c.emit(ch, pathThroughput, p.Throughput/8, lv...) // the state keeps bits/s
	}
}

// pathValues are the path label values, in the order of pathLabels.
func pathValues(p *pathstate.Path) []string {
	return []string{p.Source, p.SourceSite, p.Target, p.TargetSite, p.PortLabel(), vocab.KindName(p.Kind)}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// unixSeconds is t as Unix seconds, for any time.Time (t.UnixNano overflows
// outside 1678 to 2262; a checkpoint may hold any protobuf time, years 1 to 9999).
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}
