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

// Window is the span loss, jitter and the RTT quantiles are computed over (at
// most the last 256 attempts of a path).
const Window = 5 * time.Minute

// Settings are what the collector reads from the coordinator's current
// configuration at each scrape.
type Settings struct {
	// StaleAfter is how long a probe may be silent before it is down.
	StaleAfter time.Duration
	// RTTHistogram exports linkmesh_path_rtt_seconds, a classic histogram
	// (19 series per path), besides the window's RTT quantiles.
	RTTHistogram bool
}

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
	pathRTTP50
	pathRTTP99
	pathRTT
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

// metricDef is one metric: name, value type (UntypedValue for the histogram,
// built apart), labels and help text.
type metricDef struct {
	name   string
	typ    prometheus.ValueType
	labels []string
	help   string
}

// metrics defines every metric the collector exports, once: name, value type
// (UntypedValue for the histogram, built apart), labels and help text.
var metrics = [numMetrics]metricDef{
	pathUp: {"linkmesh_path_up", prometheus.GaugeValue, pathLabels,
		"1 if the latest attempt on the path succeeded (for a port range with refused_ok, also when refused: the host answered), 0 if it failed; absent while the path is unknown (source probe down, or the target probe down for a path to its responder)."},
	pathProbes: {"linkmesh_path_probes_total", prometheus.CounterValue, pathResultLabels,
		"Attempts on the path by result (ok, refused, timeout, unreachable, dns, reset, mismatch, error); a result appears from its first attempt on (linkmesh_path_failures_total is there from the path's first attempt)."},
	pathFailures: {"linkmesh_path_failures_total", prometheus.CounterValue, pathLabels,
		"Attempts on the path that failed: every result but ok, and but refused on a port range with refused_ok (the rule of linkmesh_path_up)."},
	pathRTTP50: {"linkmesh_path_rtt_p50_seconds", prometheus.GaugeValue, pathLabels,
		"Median round-trip time of the path's successful attempts in the last 5 minutes (at most the latest 256); absent when the window holds no success."},
	pathRTTP99: {"linkmesh_path_rtt_p99_seconds", prometheus.GaugeValue, pathLabels,
		"99th percentile of the round-trip time of the path's successful attempts in the last 5 minutes (at most the latest 256; with fewer than 100, the slowest); absent when the window holds no success."},
	pathRTT: {"linkmesh_path_rtt_seconds", prometheus.UntypedValue, pathLabels,
		"Round-trip time of successful attempts (kernel handshake RTT for tcp where available)."},
	pathSYNRetrans: {"linkmesh_path_syn_retransmits_total", prometheus.CounterValue, pathLabels,
		"SYNs the kernel had to send again before the handshake completed: each one is a lost packet on the path. Absent until the first."},
	pathLoss: {"linkmesh_path_loss_ratio", prometheus.GaugeValue, pathLabels,
		"Estimated per-packet loss over the last 5 minutes (at most 256 attempts): 1 - sqrt(exchanges that lost no packet / packet exchanges), an exchange being the handshake's first SYN and its SYN-ACK (tcp, echo) or an echo round trip; assumes the same loss both ways. A failed attempt counts only its own exchanges; attempt failures are in linkmesh_path_probes_total."},
	pathJitter: {"linkmesh_path_jitter_seconds", prometheus.GaugeValue, pathLabels,
		"Echo paths: mean absolute difference between consecutive round trips within each attempt, averaged over the last 5 minutes (tcp paths have none: their attempts are an interval apart; the spread of their RTT is linkmesh_path_rtt_p99_seconds against _p50); absent until an attempt measured it."},
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
	src      Source
	settings func() Settings
	self     string
	descs    [numMetrics]*prometheus.Desc
}

// rttFresh is how old a gossip ping may be and still be exported.
const rttFresh = 5 * time.Minute

// New returns a Collector over src. settings returns the current settings
// (they can change with a config reload); self is this coordinator's gossip
// name, the `source` of its own ping round trips.
func New(src Source, settings func() Settings, self string) *Collector {
	c := &Collector{src: src, settings: settings, self: self}
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

// Collect builds the metrics from one fresh View of the store.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	sc := c.scrape()
	for m := range numMetrics {
		if m == pathRTT {
			if sc.set.RTTHistogram {
				sc.histograms(func(values []string, h histogram) {
					ch <- prometheus.MustNewConstHistogram(c.descs[m], h.count, h.sum, h.cumulative(), values...)
				})
			}
			continue
		}
		sc.samples(m, func(values []string, v float64) {
			ch <- prometheus.MustNewConstMetric(c.descs[m], metrics[m].typ, v, values...)
		})
	}
}

// scrape is one read of the store, with its paths in the registry's order.
type scrape struct {
	self  string
	set   Settings
	view  pathstate.View
	paths []labelledPath
}

// scrape reads the store once.
func (c *Collector) scrape() *scrape {
	set := c.settings()
	sc := &scrape{self: c.self, set: set, view: c.src.View(set.StaleAfter, Window)}
	sc.paths = sortedPaths(sc.view.Paths)
	return sc
}

// samples calls yield with every sample of m (not the histogram), label
// values in the order of m's labels, in the order the registry sorts them.
func (sc *scrape) samples(m metric, yield func(values []string, v float64)) {
	snap := &sc.view.Snapshot
	switch m {
	case probeUp, probeLastReport, probeDropped, probeGaps, probeGossip:
		for i := range snap.Probes { // sorted by name, and names are unique
			p := &snap.Probes[i]
			if v, ok := probeSample(m, p); ok {
				yield([]string{p.Info.GetName(), p.Info.GetSite()}, v)
			}
		}
	case probeInfo:
		values := make([][]string, len(snap.Probes))
		for i := range snap.Probes {
			p := &snap.Probes[i]
			values[i] = []string{p.Info.GetName(), p.Info.GetSite(), p.Info.GetVersion(), p.Info.GetOs()}
		}
		sortByLabels(values, 3, 0, 1, 2) // os, probe, site, version
		for _, v := range values {
			yield(v, 1)
		}
	case memberRTT:
		sc.memberRTTs(yield)
	case pathProbes:
		sc.byResult(func(lp labelledPath, i int) (float64, bool) {
			n := lp.p.Counts[resultCodes[i]]
			return float64(n), n > 0
		}, yield)
	default:
		for _, lp := range sc.paths {
			if v, ok := sc.pathSample(m, lp.p); ok {
				yield(lp.values, v)
			}
		}
	}
}

// probeSample is a probe's sample of m, if it has one.
func probeSample(m metric, p *pathstate.ProbeState) (float64, bool) {
	switch m {
	case probeUp:
		return boolValue(p.Up), true
	case probeLastReport:
		return unixSeconds(p.LastReport), !p.LastReport.IsZero()
	case probeDropped:
		return float64(p.DroppedTotal), true
	case probeGaps:
		return float64(p.Gaps), true
	case probeGossip:
		switch p.Gossip {
		case pathstate.GossipAlive:
			return 1, true
		case pathstate.GossipDead, pathstate.GossipLeft:
			return 0, true
		}
	}
	return 0, false
}

// pathSample is a path's sample of m, if it has one.
func (sc *scrape) pathSample(m metric, p *pathstate.Path) (float64, bool) {
	st, haveStats := sc.view.Stats[p.Key]
	echoOrTCP := p.Kind == linkmeshv1.Kind_KIND_TCP || p.Kind == linkmeshv1.Kind_KIND_ECHO
	switch m {
	case pathUp:
		return boolValue(p.Up()), sc.view.Known(p) && p.Last != linkmeshv1.Code_CODE_UNSPECIFIED
	case pathFailures:
		return float64(p.Failures), true
	case pathRTTP50:
		return microseconds(st.RTTP50), haveStats && st.RTTMax > 0 // a success with an RTT in the window
	case pathRTTP99:
		return microseconds(st.RTTP99), haveStats && st.RTTMax > 0
	case pathSYNRetrans:
		return float64(p.SYNRetransmits), p.SYNRetransmits > 0 && echoOrTCP
	case pathLoss:
		return ratio(st.LossRatio), haveStats && p.Kind != linkmeshv1.Kind_KIND_DNS
	case pathJitter:
		return microseconds(st.Jitter), haveStats && p.Kind == linkmeshv1.Kind_KIND_ECHO && st.Jitter > 0
	case pathMTU:
		return float64(p.MTU), !p.MTUTime.IsZero()
	case pathBlackhole:
		return boolValue(p.MTUBlackhole), !p.MTUTime.IsZero()
	case pathThroughput:
		return p.Throughput / 8, !p.ThroughputTime.IsZero() // the state keeps bits/s
	}
	return 0, false
}

// histogram is a path's RTT histogram.
type histogram struct {
	count   uint64
	sum     float64
	buckets []uint64 // per bucket of pathstate.Buckets, not cumulative
}

// cumulative is the histogram's buckets as client_golang takes them.
func (h histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(pathstate.Buckets))
	var cum uint64
	for i, ub := range pathstate.Buckets {
		cum += h.buckets[i]
		out[ub] = cum
	}
	return out
}

// histograms calls yield with every path's RTT histogram, in order.
func (sc *scrape) histograms(yield func(values []string, h histogram)) {
	for _, lp := range sc.paths {
		yield(lp.values, histogram{count: lp.p.RTTCount, sum: lp.p.RTTSum, buckets: lp.p.BucketCounts[:]})
	}
}

// memberRTTs yields the fresh gossip round trips, sorted by source and target.
func (sc *scrape) memberRTTs(yield func(values []string, v float64)) {
	snap := &sc.view.Snapshot
	now := snap.Taken
	type rtt struct {
		values []string
		v      float64
	}
	var out []rtt
	for i := range snap.Probes {
		p := &snap.Probes[i]
		name := p.Info.GetName()
		if p.CoordinatorRTT > 0 && now.Sub(p.CoordinatorRTTAt) < rttFresh {
			out = append(out, rtt{[]string{sc.self, name}, p.CoordinatorRTT.Seconds()})
		}
		for target, r := range p.MemberRTTs {
			if r.RTT > 0 && now.Sub(r.At) < rttFresh {
				out = append(out, rtt{[]string{name, target}, r.RTT.Seconds()})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].values, out[j].values
		return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
	})
	for _, r := range out {
		yield(r.values, r.v)
	}
}

// sortByLabels sorts label value sets by the values at the given indexes, in turn.
func sortByLabels(values [][]string, order ...int) {
	sort.Slice(values, func(i, j int) bool {
		a, b := values[i], values[j]
		for _, k := range order {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return false
	})
}

// labelledPath is a path with its label values (pathLabels' order).
type labelledPath struct {
	p      *pathstate.Path
	values []string
}

// sortedPaths are the paths in the order the registry sorts each family's
// metrics — by label values, labels taken by name: kind, port, source,
// source_site, target, target_site — so its sort of 100,000 metrics at
// 10,000 paths finds them in order (a linear pass) instead of sorting them,
// and the text writer (text.go) writes them in the registry's order.
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

// resultCodes are the codes in the sorted order of their names, resultValues.
var resultCodes, resultValues = func() ([]linkmeshv1.Code, []string) {
	codes := append([]linkmeshv1.Code(nil), vocab.Codes...)
	sort.Slice(codes, func(i, j int) bool { return vocab.CodeName(codes[i]) < vocab.CodeName(codes[j]) })
	names := make([]string, len(codes))
	for i, c := range codes {
		names[i] = vocab.CodeName(c)
	}
	return codes, names
}()

// byResult yields linkmesh_path_probes_total in the registry's order: the
// `result` label sorts between port and source, so within each kind and
// port, every path's sample for one result, then the next result. value gives
// a path's sample for resultCodes[i], and whether it has one.
func (sc *scrape) byResult(value func(lp labelledPath, i int) (float64, bool), yield func(values []string, v float64)) {
	paths := sc.paths
	for start := 0; start < len(paths); {
		end := start + 1
		for end < len(paths) && paths[end].values[5] == paths[start].values[5] && paths[end].values[4] == paths[start].values[4] {
			end++
		}
		for i, x := range resultValues {
			for _, lp := range paths[start:end] {
				if v, ok := value(lp, i); ok {
					yield(append(lp.values[:len(lp.values):len(lp.values)], x), v)
				}
			}
		}
		start = end
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
