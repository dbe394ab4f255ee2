// Package exporter turns the coordinator's mesh state into Prometheus metrics at
// scrape time (a prometheus.Collector building const metrics, as node_exporter
// does), so a path or probe that goes away leaves no stale series behind.
package exporter

import (
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the collector reads: the coordinator's store.
type Source interface {
	Snapshot(staleAfter time.Duration) pathstate.Snapshot
	Window(since time.Time) map[pathstate.Key]pathstate.Stats
	Failures(since time.Time) map[pathstate.Key]pathstate.Failures
}

// Window is the span loss, jitter and the failure ratio are computed over (at
// most the last 256 attempts of a path).
const Window = 5 * time.Minute

var pathLabels = []string{"source", "source_site", "target", "target_site", "port", "kind"}

// Collector exports the mesh state. Create it with New and register it on the
// coordinator's own registry.
type Collector struct {
	src        Source
	staleAfter func() time.Duration
	self       string

	pathUp          *prometheus.Desc
	pathProbes      *prometheus.Desc
	pathFailures    *prometheus.Desc
	pathFailRatio   *prometheus.Desc
	pathRTT         *prometheus.Desc
	pathLastSuccess *prometheus.Desc
	pathSYNRetrans  *prometheus.Desc
	pathLoss        *prometheus.Desc
	pathJitter      *prometheus.Desc
	pathMTU         *prometheus.Desc
	pathBlackhole   *prometheus.Desc
	pathThroughput  *prometheus.Desc
	probeUp         *prometheus.Desc
	probeLastReport *prometheus.Desc
	probeInfo       *prometheus.Desc
	probeDropped    *prometheus.Desc
	probeGaps       *prometheus.Desc
	probeGossip     *prometheus.Desc
	memberRTT       *prometheus.Desc
}

// rttFresh is how old a gossip ping may be and still be exported.
const rttFresh = 5 * time.Minute

// New returns a Collector over src. staleAfter returns the current stale-after
// window (it can change with a config reload); self is this coordinator's gossip
// name, the `source` of its own ping round trips.
func New(src Source, staleAfter func() time.Duration, self string) *Collector {
	probeLabels := []string{"probe", "site"}
	return &Collector{
		src:        src,
		staleAfter: staleAfter,
		self:       self,
		pathUp: prometheus.NewDesc("linkmesh_path_up",
			"1 if the latest attempt on the path succeeded (for a port range with refused_ok, also when refused: the host answered), 0 if it failed; absent while the path is unknown (source probe down, or the target probe down for a path to its responder).",
			pathLabels, nil),
		pathProbes: prometheus.NewDesc("linkmesh_path_probes_total",
			"Attempts on the path by result (ok, refused, timeout, unreachable, dns, reset, mismatch, error).",
			append(append([]string{}, pathLabels...), "result"), nil),
		pathFailures: prometheus.NewDesc("linkmesh_path_failures_total",
			"Attempts on the path that failed: every result but ok, and but refused on a port range with refused_ok (the rule of linkmesh_path_up).",
			pathLabels, nil),
		pathFailRatio: prometheus.NewDesc("linkmesh_path_failure_ratio",
			"Share of the path's attempts in the last 5 minutes (at most the latest 256) that failed, by the rule of linkmesh_path_up: attempt failures, not packet loss.",
			pathLabels, nil),
		pathRTT: prometheus.NewDesc("linkmesh_path_rtt_seconds",
			"Round-trip time of successful attempts (kernel handshake RTT for tcp where available).",
			pathLabels, nil),
		pathLastSuccess: prometheus.NewDesc("linkmesh_path_last_success_timestamp_seconds",
			"Probe-clock time of the latest successful attempt on the path.",
			pathLabels, nil),
		pathSYNRetrans: prometheus.NewDesc("linkmesh_path_syn_retransmits_total",
			"SYNs the kernel had to send again before the handshake completed: each one is a lost packet on the path.",
			pathLabels, nil),
		pathLoss: prometheus.NewDesc("linkmesh_path_loss_ratio",
			"Estimated per-packet loss over the last 5 minutes (at most 256 attempts): 1 - sqrt(exchanges that lost no packet / packet exchanges), an exchange being the handshake's first SYN and its SYN-ACK (tcp, echo) or an echo round trip; assumes the same loss both ways. A failed attempt counts only its own exchanges; attempt failures are in linkmesh_path_probes_total.",
			pathLabels, nil),
		pathJitter: prometheus.NewDesc("linkmesh_path_jitter_seconds",
			"Mean absolute difference between consecutive RTTs over the last 5 minutes (echo: between the round trips of each attempt).",
			pathLabels, nil),
		pathMTU: prometheus.NewDesc("linkmesh_path_mtu_bytes",
			"Largest packet (bytes) that crossed the path in its latest path-MTU check (echo paths with MTU checks only).",
			pathLabels, nil),
		pathBlackhole: prometheus.NewDesc("linkmesh_path_mtu_blackhole",
			"1 when the latest path-MTU check found full-size packets dropped while smaller ones crossed (a path-MTU black hole: replication stalls), else 0 (echo paths with MTU checks only).",
			pathLabels, nil),
		pathThroughput: prometheus.NewDesc("linkmesh_path_throughput_bytes_per_second",
			"Throughput (TCP payload bytes per second) of the latest bounded burst on the path (echo paths with bursts only).",
			pathLabels, nil),
		probeUp: prometheus.NewDesc("linkmesh_probe_up",
			"1 if the probe reported within the stale-after window, keeps its plan stream open and gossip does not say it is dead or gone; else 0.",
			probeLabels, nil),
		probeLastReport: prometheus.NewDesc("linkmesh_probe_last_report_timestamp_seconds",
			"Coordinator-clock time of the probe's latest report (sent at least every 10 s).",
			probeLabels, nil),
		probeInfo: prometheus.NewDesc("linkmesh_probe_info",
			"Constant 1, labelled with the probe's version and operating system.",
			[]string{"probe", "site", "version", "os"}, nil),
		probeDropped: prometheus.NewDesc("linkmesh_probe_dropped_results_total",
			"Results the probe had to drop because its buffer was full while no coordinator took them.",
			probeLabels, nil),
		probeGaps: prometheus.NewDesc("linkmesh_probe_missing_results_total",
			"Sequence numbers this coordinator never received from the probe (dropped or lost before delivery).",
			probeLabels, nil),
		probeGossip: prometheus.NewDesc("linkmesh_probe_gossip_alive",
			"1 if gossip sees the probe alive, 0 if dead or left; absent when the probe is not in gossip (--no-gossip).",
			probeLabels, nil),
		memberRTT: prometheus.NewDesc("linkmesh_member_rtt_seconds",
			"Latest gossip ping round trip from source to target (members' names; coordinators are coordinator:<name>). Relayed pings are not counted, so a one-way failure can hide behind it: a hint, not a verdict.",
			[]string{"source", "target"}, nil),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pathUp, c.pathProbes, c.pathFailures, c.pathFailRatio, c.pathRTT, c.pathLastSuccess, c.pathSYNRetrans, c.pathLoss, c.pathJitter,
		c.pathMTU, c.pathBlackhole, c.pathThroughput,
		c.probeUp, c.probeLastReport, c.probeInfo, c.probeDropped, c.probeGaps, c.probeGossip, c.memberRTT} {
		ch <- d
	}
}

// Collect builds the metrics from a fresh snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.Snapshot(c.staleAfter())
	for i := range snap.Probes {
		p := &snap.Probes[i]
		name, site := p.Info.GetName(), p.Info.GetSite()
		c.collectGossip(ch, p, snap.Taken)
		ch <- prometheus.MustNewConstMetric(c.probeUp, prometheus.GaugeValue, boolValue(p.Up), name, site)
		if !p.LastReport.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.probeLastReport, prometheus.GaugeValue, unixSeconds(p.LastReport), name, site)
		}
		ch <- prometheus.MustNewConstMetric(c.probeInfo, prometheus.GaugeValue, 1, name, site, p.Info.GetVersion(), p.Info.GetOs())
		ch <- prometheus.MustNewConstMetric(c.probeDropped, prometheus.CounterValue, float64(p.DroppedTotal), name, site)
		ch <- prometheus.MustNewConstMetric(c.probeGaps, prometheus.CounterValue, float64(p.Gaps), name, site)
	}
	since := snap.Taken.Add(-Window)
	stats, fails := c.src.Window(since), c.src.Failures(since)
	for i := range snap.Paths {
		p := &snap.Paths[i]
		st, ok := stats[p.Key]
		c.collectPath(ch, p, snap.Known(p), st, ok)
		if f, ok := fails[p.Key]; ok {
			ch <- prometheus.MustNewConstMetric(c.pathFailRatio, prometheus.GaugeValue, f.Ratio(), pathValues(p)...)
		}
	}
}

func (c *Collector) collectGossip(ch chan<- prometheus.Metric, p *pathstate.ProbeState, now time.Time) {
	name, site := p.Info.GetName(), p.Info.GetSite()
	switch p.Gossip {
	case pathstate.GossipAlive:
		ch <- prometheus.MustNewConstMetric(c.probeGossip, prometheus.GaugeValue, 1, name, site)
	case pathstate.GossipDead, pathstate.GossipLeft:
		ch <- prometheus.MustNewConstMetric(c.probeGossip, prometheus.GaugeValue, 0, name, site)
	}
	if p.CoordinatorRTT > 0 && now.Sub(p.CoordinatorRTTAt) < rttFresh {
		ch <- prometheus.MustNewConstMetric(c.memberRTT, prometheus.GaugeValue, p.CoordinatorRTT.Seconds(), c.self, name)
	}
	for target, r := range p.MemberRTTs {
		if r.RTT > 0 && now.Sub(r.At) < rttFresh {
			ch <- prometheus.MustNewConstMetric(c.memberRTT, prometheus.GaugeValue, r.RTT.Seconds(), name, target)
		}
	}
}

func (c *Collector) collectPath(ch chan<- prometheus.Metric, p *pathstate.Path, known bool, st pathstate.Stats, haveStats bool) {
	lv := pathValues(p)
	if known && p.Last != linkmeshv1.Code_CODE_UNSPECIFIED {
		ch <- prometheus.MustNewConstMetric(c.pathUp, prometheus.GaugeValue, boolValue(p.Up()), lv...)
	}
	for code := linkmeshv1.Code_CODE_OK; int(code) < pathstate.NumCodes; code++ {
		ch <- prometheus.MustNewConstMetric(c.pathProbes, prometheus.CounterValue, float64(p.Counts[code]), append(lv, CodeName(code))...)
	}
	ch <- prometheus.MustNewConstMetric(c.pathFailures, prometheus.CounterValue, float64(p.Failures), lv...)
	buckets := make(map[float64]uint64, len(pathstate.Buckets))
	var cum uint64
	for i, ub := range pathstate.Buckets {
		cum += p.BucketCounts[i]
		buckets[ub] = cum
	}
	ch <- prometheus.MustNewConstHistogram(c.pathRTT, p.RTTCount, p.RTTSum, buckets, lv...)
	if !p.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.pathLastSuccess, prometheus.GaugeValue, unixSeconds(p.LastSuccess), lv...)
	}
	if p.Kind == linkmeshv1.Kind_KIND_TCP || p.Kind == linkmeshv1.Kind_KIND_ECHO {
		ch <- prometheus.MustNewConstMetric(c.pathSYNRetrans, prometheus.CounterValue, float64(p.SYNRetransmits), lv...)
	}
	if haveStats && p.Kind != linkmeshv1.Kind_KIND_DNS {
		ch <- prometheus.MustNewConstMetric(c.pathLoss, prometheus.GaugeValue, st.LossRatio, lv...)
		if st.OK > 1 || (p.Kind == linkmeshv1.Kind_KIND_ECHO && st.Jitter > 0) {
			ch <- prometheus.MustNewConstMetric(c.pathJitter, prometheus.GaugeValue, st.Jitter.Seconds(), lv...)
		}
	}
	if !p.MTUTime.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.pathMTU, prometheus.GaugeValue, float64(p.MTU), lv...)
		ch <- prometheus.MustNewConstMetric(c.pathBlackhole, prometheus.GaugeValue, boolValue(p.MTUBlackhole), lv...)
	}
	if !p.ThroughputTime.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.pathThroughput, prometheus.GaugeValue, p.Throughput/8, lv...) // the state keeps bits/s
	}
}

// pathValues are the path label values, in the order of pathLabels.
func pathValues(p *pathstate.Path) []string {
	return []string{p.Source, p.SourceSite, p.Target, p.TargetSite, p.PortLabel(), KindName(p.Kind)}
}

// CodeName is the `result` label value of a code: "ok", "refused", ...
func CodeName(c linkmeshv1.Code) string {
	return strings.ToLower(strings.TrimPrefix(c.String(), "CODE_"))
}

// KindName is the `kind` label value of a kind: "tcp", "echo", "dns".
func KindName(k linkmeshv1.Kind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
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
