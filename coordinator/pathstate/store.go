// Package pathstate holds the coordinator's view of the mesh: the probes it knows,
// and for every path (source probe → target, port, kind) the counts, RTT histogram
// and latest outcome built from the results the probes report.
//
// Ingest is idempotent: a result is counted once per (probe, epoch, seq), so probes
// may replay batches they are unsure about. The Store is safe for concurrent use;
// the exporter reads it at scrape time through Snapshot.
package pathstate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// Buckets are the upper bounds (seconds) of the RTT histogram: 0.1 ms to 10 s,
// roughly 2.5× apart, dense where LAN, VPN and ExpressRoute paths sit.
var Buckets = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Key identifies a path. It is also the metric label set.
type Key struct {
	Source     string
	SourceSite string
	Target     string
	TargetSite string
	Port       uint32
	// PortEnd is the end of a port range (0 for a single port).
	PortEnd uint32
	Kind    linkmeshv1.Kind
}

// PortLabel is the `port` label value: "5022", or "11000-11999" for a range.
func (k Key) PortLabel() string {
	if k.PortEnd > k.Port {
		return strconv.FormatUint(uint64(k.Port), 10) + "-" + strconv.FormatUint(uint64(k.PortEnd), 10)
	}
	return strconv.FormatUint(uint64(k.Port), 10)
}

// Up reports whether the latest attempt shows the path working.
func (p *Path) Up() bool {
	return !Failed(p.Last, p.RefusedIsReach)
}

// Failed reports whether an attempt that ended in code counts against its path:
// every result but ok, and but refused on a path that counts a refusal as the
// host reached (refusedIsReach, port ranges with refused_ok). Up,
// linkmesh_path_failures_total and linkmesh_path_failure_ratio all use it.
func Failed(code linkmeshv1.Code, refusedIsReach bool) bool {
	return code != linkmeshv1.Code_CODE_OK && !(refusedIsReach && code == linkmeshv1.Code_CODE_REFUSED)
}

// Counters are a path's cumulative figures: exported as Prometheus counters and
// histograms, so they must never go backwards (see Store.EnableCheckpoints).
type Counters struct {
	// Counts holds the attempts per result code, indexed by linkmeshv1.Code.
	Counts [vocab.NumCodes]uint64
	// BucketCounts are the non-cumulative counts per Buckets entry; the last
	// element counts RTTs above the largest bound.
	BucketCounts [len(Buckets) + 1]uint64
	// RTTSum and RTTCount describe every RTT observed (ok results only).
	RTTSum   float64
	RTTCount uint64
	// SYNRetransmits sums the SYNs the kernel had to send again.
	SYNRetransmits uint64
	// Failures counts the attempts that count against the path (see Failed).
	// Checkpoints written before it existed restore it as 0.
	Failures uint64
}

// Path is the state of one path.
type Path struct {
	Key
	Counters
	// Last is the code of the latest attempt (by sequence number: the probe's
	// clock orders nothing).
	Last linkmeshv1.Code
	// LastTime is when the latest attempt started (probe clock, clamped to
	// SetClockSkew).
	LastTime time.Time
	// LastSuccess is when the latest ok attempt started (zero if none).
	LastSuccess time.Time
	// LastRTT is the RTT the latest attempt measured: 0 when it measured none
	// (a timeout, say), never an older attempt's figure.
	LastRTT time.Duration
	// LastSuccessRTT is the RTT of the attempt at LastSuccess (0: none measured).
	LastSuccessRTT time.Duration
	// LastDetail is the latest attempt's description.
	LastDetail string
	// RefusedIsReach: a refused attempt counts as the path working (port ranges).
	RefusedIsReach bool
	// LastEpoch is the source probe's epoch when the latest attempt was counted:
	// a restarted probe (new epoch) says nothing about the path until it reports.
	LastEpoch uint64
	// MTU is the largest packet (bytes) the latest path-MTU check saw cross,
	// and MTUBlackhole whether that check found full-size packets dropped
	// while smaller ones crossed; MTUTime is when it ran (zero: never).
	MTU          uint32
	MTUBlackhole bool
	MTUTime      time.Time
	// Throughput is the latest throughput burst's figure (bits/s), measured
	// at ThroughputTime (zero: never).
	Throughput     float64
	ThroughputTime time.Time
	// Addresses are what the name resolved to in the latest dns attempt.
	Addresses []string

	// recent holds the latest attempts; Snapshot leaves it out of copies.
	recent *window
}

// Probe is what the coordinator knows of one probe.
type Probe struct {
	Info *linkmeshv1.ProbeInfo
	// Registered is when the probe last registered (coordinator clock).
	Registered time.Time
	// LastReport is when the probe last reported, even an empty batch.
	LastReport time.Time
	// Streams counts the probe's open plan streams.
	Streams int
	// Epoch and AckedSeq are the ingest cursor: results with seq ≤ AckedSeq in
	// this epoch have been counted.
	Epoch    uint64
	AckedSeq uint64
	// DroppedTotal is what the probe says it had to drop, summed over its epochs.
	DroppedTotal uint64
	// Gaps counts sequence numbers that never arrived (dropped by the probe).
	Gaps uint64
	// Rejected counts results refused because the probe has too many paths.
	Rejected uint64
	// Gossip is the probe's gossip state and GossipSince when it entered it.
	Gossip      GossipState
	GossipSince time.Time
	// CoordinatorRTT is this coordinator's latest gossip ping to the probe.
	CoordinatorRTT   time.Duration
	CoordinatorRTTAt time.Time
	// MemberRTTs are the probe's own latest gossip pings, by member name.
	MemberRTTs map[string]RTTSample
	// StandIns is what the probe last reported of its stand-in endpoints.
	StandIns []*linkmeshv1.StandInStatus
	// Backlog is what the probe last said it holds unacknowledged by this
	// coordinator (its word: shown, never used to count).
	Backlog uint64

	// durableEpoch and durableSeq are the cursor as of the last committed
	// checkpoint; paths counts the paths this probe is the source of.
	durableEpoch, durableSeq uint64
	paths                    int
	// droppedEpoch is the probe's own drop total within the current epoch.
	droppedEpoch uint64
	// latestTime is the latest (clamped) result time counted in this epoch.
	latestTime time.Time
}

// Cursor is where a probe stands with this coordinator.
type Cursor struct {
	// Received is the highest sequence number counted in memory.
	Received uint64
	// Acked is the highest sequence number counted durably: Received when the
	// store keeps no checkpoints, else the cursor of the last committed one.
	Acked uint64
}

// Store is the coordinator's mesh state.
type Store struct {
	now func() time.Time

	mu     sync.Mutex
	probes map[string]*Probe
	paths  map[Key]*Path
	// changed is closed and replaced whenever the set of probes or their
	// descriptions change, so plan streams can recompute.
	changed notify.Signal

	limits Limits
	// skew returns the clock-skew bound (see SetClockSkew).
	skew func() time.Duration
	// batch is the clock of the batch Ingest is counting (under mu).
	batch batchClock
	// planned are the paths the plans hold now, plannedGone those that left
	// them and when (SetPlanned); nil planned: every path is admitted.
	planned     map[Key]bool
	plannedGone map[Key]time.Time
	// aside picks the results Ingest hands back instead of counting (SetAside).
	aside func(*linkmeshv1.Result) bool
	// checkpoints: acks and exported counters follow committed checkpoints.
	checkpoints bool
	// version counts mutations; checkpointed is the version of the last
	// Checkpoint, committed the counters of the last committed one.
	version, checkpointed uint64
	committed             committed
	// totals counts what Ingest did with results, over the store's life
	// (continued from the checkpoint it was restored from).
	totals Totals
}

// Totals are the store's own cumulative figures, exported as the coordinator's
// linkmesh_coordinator_results_*_total counters.
type Totals struct {
	// Ingested counts results counted into path state.
	Ingested uint64 `json:"ingested"`
	// Duplicates counts results received again (replays) and not counted twice.
	Duplicates uint64 `json:"duplicates"`
}

// Totals returns the store's totals: with checkpoints enabled, those of the last
// committed checkpoint, so they never go backwards across a coordinator crash
// (the probes replay what the checkpoint lacks, and it is counted again).
func (s *Store) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checkpoints {
		return s.committed.totals
	}
	return s.totals
}

// Limits bound what probes can make the store hold. Zero means no limit.
type Limits struct {
	// MaxProbes bounds the probes the store knows.
	MaxProbes int
	// MaxPathsPerProbe bounds the paths one probe is the source of; results for
	// further paths are refused (and counted in Probe.Rejected).
	MaxPathsPerProbe int
}

// SetClockSkew sets where Ingest reads the clock-skew bound from: how far a
// result's probe time may be from the coordinator's clock (ahead) or from the
// probe's latest result (behind) before it is clamped (see clampLocked). f is
// called under the store's lock; nil, or a result ≤ 0, means
// DefaultMaxClockSkew. The coordinator passes its config's max_clock_skew, so
// a reload takes effect at once.
func (s *Store) SetClockSkew(f func() time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = f
}

// SetAside sets which valid results Ingest sets aside: they move the probe's
// cursor like any result (a replay of them is a duplicate) but are no path
// state — no path, no metric, no use of Limits.MaxPathsPerProbe — and come
// back in IngestStats.Aside for the caller to use (the coordinator hands the
// results of check rounds to their round). nil sets nothing aside.
func (s *Store) SetAside(f func(*linkmeshv1.Result) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aside = f
}

// DefaultMaxClockSkew is the config's default max_clock_skew.
const DefaultMaxClockSkew = 10 * time.Minute

// ErrTooManyProbes is returned by TryRegister when Limits.MaxProbes is reached.
var ErrTooManyProbes = errors.New("the coordinator knows too many probes (limits.max_probes)")

// SetLimits sets the limits; call it before the store is used.
func (s *Store) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
}

// New returns an empty Store. now is the clock (time.Now in production).
func New(now func() time.Time) *Store {
	return &Store{
		now:    now,
		probes: map[string]*Probe{},
		paths:  map[Key]*Path{},
	}
}

// Register records a probe's description and returns its in-memory ingest
// cursor for the given epoch (0 if the epoch is new). It ignores Limits.MaxProbes;
// the gRPC service calls TryRegister.
func (s *Store) Register(info *linkmeshv1.ProbeInfo) (ackedSeq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.registerLocked(info).Received
}

// TryRegister is Register with the limits applied; it returns the probe's cursor.
func (s *Store) TryRegister(info *linkmeshv1.ProbeInfo) (Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.probes[info.GetName()]; !ok && s.limits.MaxProbes > 0 && len(s.probes) >= s.limits.MaxProbes {
		return Cursor{}, fmt.Errorf("%q: %w", info.GetName(), ErrTooManyProbes)
	}
	return s.registerLocked(info), nil
}

func (s *Store) registerLocked(info *linkmeshv1.ProbeInfo) Cursor {
	p, ok := s.probes[info.GetName()]
	if !ok {
		p = &Probe{}
		s.probes[info.GetName()] = p
	}
	notify := !ok || !sameInfo(p.Info, info)
	p.Info = info
	p.Registered = s.now()
	if p.Epoch != info.GetEpoch() {
		p.Epoch, p.AckedSeq, p.droppedEpoch, p.latestTime = info.GetEpoch(), 0, 0, time.Time{}
	}
	if notify {
		s.notifyLocked()
	}
	s.version++
	return s.cursorLocked(p)
}

// cursorLocked is p's cursor; see Cursor.
func (s *Store) cursorLocked(p *Probe) Cursor {
	c := Cursor{Received: p.AckedSeq, Acked: p.AckedSeq}
	if s.checkpoints {
		c.Acked = 0
		if p.durableEpoch == p.Epoch {
			c.Acked = min(p.durableSeq, p.AckedSeq)
		}
	}
	return c
}

func sameInfo(a, b *linkmeshv1.ProbeInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.GetSite() != b.GetSite() || a.GetResponderAddress() != b.GetResponderAddress() || len(a.GetLabels()) != len(b.GetLabels()) {
		return false
	}
	for k, v := range a.GetLabels() {
		if b.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

func (s *Store) notifyLocked() {
	s.changed.Notify()
}

// Changed returns a channel that is closed at the next change of membership.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed.C()
}

// StreamOpened and StreamClosed track a probe's plan streams.
func (s *Store) StreamOpened(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[name]; ok {
		p.Streams++
	}
}

// StreamClosed is the counterpart of StreamOpened.
func (s *Store) StreamClosed(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[name]; ok && p.Streams > 0 {
		p.Streams--
	}
}

// Probes returns the description of every probe plans should include, sorted by
// name: all registered probes except those that left the mesh on purpose
// (never one known only to gossip, e.g. from an old checkpoint).
func (s *Store) Probes() []*linkmeshv1.ProbeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*linkmeshv1.ProbeInfo, 0, len(s.probes))
	for _, p := range s.probes {
		if p.Gossip == GossipLeft || p.Registered.IsZero() {
			continue
		}
		out = append(out, p.Info)
	}
	slices.SortFunc(out, func(a, b *linkmeshv1.ProbeInfo) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}

// Known reports whether a probe of that name has registered.
func (s *Store) Known(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.probes[name]
	return ok
}
