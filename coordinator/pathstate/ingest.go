package pathstate

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// ErrUnknownProbe is returned by Ingest for a probe that has not registered (or
// whose registration this coordinator lost in a restart); the probe should register
// again and replay.
var ErrUnknownProbe = errors.New("probe has not registered with this coordinator")

// ErrEpochChanged is returned by Ingest when the batch's epoch is not the one the
// probe registered with; the probe should register again.
var ErrEpochChanged = errors.New("the batch's epoch differs from the registered one")

// ErrSeqJump is returned by Ingest when a batch's sequence numbers jump
// further ahead of the probe's cursor than any honest probe's can (see
// MaxSeqJump); the batch is refused whole and the cursor stays.
var ErrSeqJump = errors.New("sequence numbers jump too far ahead of the cursor")

// Bounds on how far a batch's sequence numbers may run ahead of the probe's
// cursor. An honest probe leaves gaps only for results it dropped from a full
// buffer (reported in the batch's dropped_total, whose growth is allowed on
// top), for records lost to spool damage (at most what the spool held: about
// its --buffer, 100,000 by default), and for the numbers it skips to its spool
// fence after damage at the spool's end (at most 256); a batch adds at most
// 1000 (MaxBatch). MaxSeqJump covers those with room for a --buffer ten times
// the default. And while this coordinator did not hear from the probe, the
// probe may have forgotten results another coordinator acked (a coordinator
// that left the mesh and came back with its checkpoint), so MaxResultRate
// per second since the probe's last report is allowed on top. A probe's first batch in an epoch (cursor 0) has no reference
// point: a coordinator that is new to a long-running probe legitimately sees
// it start high, so it is only kept below MaxFirstSeq (2^40: 35 years at
// 1000 results a second), far from where the numbers wrap.
const (
	MaxSeqJump  = 1 << 20
	MaxFirstSeq = 1 << 40
	// MaxResultRate is more results a second than a probe's plan makes:
	// limits.max_paths_per_probe (1000) paths at the shortest interval (100 ms).
	MaxResultRate = 10000
)

// IngestStats says what Ingest did with a batch.
type IngestStats struct {
	// Counted results were new and are now in the path state.
	Counted int
	// Duplicates had been counted before (a replay) and were skipped.
	Duplicates int
	// Rejected results were not counted: they would have created a path beyond
	// Limits.MaxPathsPerProbe. The cursor moves past them all the same.
	Rejected int
	// NotPlanned results were not counted: they would have created a path that
	// no plan holds (SetPlanned). The cursor moves past them.
	NotPlanned int
	// Invalid counts the results dropped because they failed ValidateResult,
	// by reason; InvalidError is the first one's error. The cursor moves past
	// them (they are not replayed, and not counted as missing), except past a
	// result without a sequence number (seq 0).
	Invalid      map[string]int
	InvalidError error
	// ClampedFuture and ClampedPast count results whose probe time was outside
	// the clock-skew bound and was clamped to it (see SetClockSkew);
	// ClampedBy is the largest such correction in the batch (time.Time.Sub
	// saturates: year 1 to now fits).
	ClampedFuture, ClampedPast int
	ClampedBy                  time.Duration
	// Aside holds the batch's new results that SetAside's function picked,
	// in sequence order; they moved the cursor but count nowhere.
	Aside []*linkmeshv1.Result
	// AckedSeq is the probe's durable cursor after the batch (see Cursor.Acked).
	AckedSeq uint64
	// ReceivedSeq is the probe's in-memory cursor after the batch.
	ReceivedSeq uint64
}

// Ingest counts a batch of results from a registered probe. Results at or below the
// probe's cursor are duplicates and are skipped; invalid results (ValidateResult)
// are dropped and counted in IngestStats.Invalid; results SetAside picks are
// returned in IngestStats.Aside instead of counted. The batch itself must already
// be validated (see ValidateReport). A batch whose numbers jump too far ahead
// (MaxSeqJump) is refused with ErrSeqJump.
func (s *Store) Ingest(probe string, epoch uint64, dropped uint64, results []*linkmeshv1.Result) (IngestStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.probes[probe]
	if !ok {
		return IngestStats{}, fmt.Errorf("%q: %w", probe, ErrUnknownProbe)
	}
	s.version++
	s.startBatchLocked()
	if epoch != p.Epoch {
		c := s.cursorLocked(p)
		return IngestStats{AckedSeq: c.Acked, ReceivedSeq: c.Received}, fmt.Errorf("%q epoch %d, registered %d: %w", probe, epoch, p.Epoch, ErrEpochChanged)
	}
	if !sort.SliceIsSorted(results, func(i, j int) bool { return results[i].GetSeq() < results[j].GetSeq() }) {
		results = append([]*linkmeshv1.Result(nil), results...)
		sort.Slice(results, func(i, j int) bool { return results[i].GetSeq() < results[j].GetSeq() })
	}
	if err := p.checkJump(s.now(), dropped, results); err != nil {
		c := s.cursorLocked(p)
		return IngestStats{AckedSeq: c.Acked, ReceivedSeq: c.Received}, fmt.Errorf("%q: %w", probe, err)
	}
	p.LastReport = s.now()
	if dropped > p.droppedEpoch { // a total for the epoch: count only its growth
		p.DroppedTotal += dropped - p.droppedEpoch
		p.droppedEpoch = dropped
	}
	var st IngestStats
	for _, r := range results {
		if r.GetSeq() != 0 && r.GetSeq() <= p.AckedSeq {
			st.Duplicates++
			continue
		}
		if r.GetSeq() != 0 {
			if gap := r.GetSeq() - p.AckedSeq - 1; gap > 0 {
				p.Gaps += gap
			}
			p.AckedSeq = r.GetSeq()
		}
		if reason, err := ValidateResult(r); err != nil {
			if st.Invalid == nil {
				st.Invalid = map[string]int{}
				st.InvalidError = fmt.Errorf("seq %d: %w", r.GetSeq(), err)
			}
			st.Invalid[reason]++
			continue
		}
		if s.aside != nil && s.aside(r) {
			st.Aside = append(st.Aside, r)
			continue
		}
		switch s.countLocked(p, r, &st) {
		case counted:
			st.Counted++
		case overPathLimit:
			st.Rejected++
			p.Rejected++
		case notPlanned:
			st.NotPlanned++
		}
	}
	s.totals.Ingested += uint64(st.Counted)
	s.totals.Duplicates += uint64(st.Duplicates)
	c := s.cursorLocked(p)
	st.AckedSeq, st.ReceivedSeq = c.Acked, c.Received
	return st, nil
}

// checkJump refuses a batch (sorted by seq) whose highest sequence number is
// beyond what the probe's cursor, the growth of its drop count, the batch's
// size and the time since its last report explain (see MaxSeqJump).
func (p *Probe) checkJump(now time.Time, dropped uint64, results []*linkmeshv1.Result) error {
	if len(results) == 0 {
		return nil
	}
	last := results[len(results)-1].GetSeq()
	limit := uint64(MaxFirstSeq)
	if p.AckedSeq > 0 {
		limit = satAdd(p.AckedSeq, MaxSeqJump+uint64(len(results)))
		if dropped > p.droppedEpoch {
			limit = satAdd(limit, dropped-p.droppedEpoch)
		}
		if away := now.Sub(p.LastReport); !p.LastReport.IsZero() && away > 0 {
			limit = satAdd(limit, (uint64(away/time.Second)+1)*MaxResultRate)
		}
	}
	if last > limit {
		return fmt.Errorf("seq %d, cursor %d: more than %d ahead (the results the probe reports dropped, the batch's size and the time since its last report allowed for): %w", last, p.AckedSeq, limit-p.AckedSeq, ErrSeqJump)
	}
	return nil
}

// satAdd is a+b, or the largest uint64 where that overflows.
func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

// clampLocked bounds a result's probe time t (see SetClockSkew): not
// after now + skew (a probe clock ahead, or a result stamped in 2100), and not
// more than skew before the latest time this probe's epoch has counted (a
// probe clock that jumped back; a later sequence number cannot have started
// much earlier). Older results of a replayed backlog keep their times, which
// are older than now but not older than the results numbered before them.
func (s *Store) clampLocked(p *Probe, t time.Time, st *IngestStats) time.Time {
	skew := s.batch.skew
	if hi := s.batch.now.Add(skew); t.After(hi) {
		st.ClampedFuture++
		st.ClampedBy = max(st.ClampedBy, t.Sub(hi))
		t = hi
	} else if !p.latestTime.IsZero() {
		if lo := p.latestTime.Add(-skew); t.Before(lo) {
			st.ClampedPast++
			st.ClampedBy = max(st.ClampedBy, lo.Sub(t))
			t = lo
		}
	}
	if t.After(p.latestTime) {
		p.latestTime = t
	}
	return t
}

// countLocked counts r into its path, unless the path is new and no plan
// holds it (SetPlanned) or the probe already has Limits.MaxPathsPerProbe
// paths.
func (s *Store) countLocked(probe *Probe, r *linkmeshv1.Result, st *IngestStats) countOutcome {
	src := probe.Info
	k := Key{
		Source:     src.GetName(),
		SourceSite: src.GetSite(),
		Target:     r.GetTarget(),
		TargetSite: r.GetTargetSite(),
		Port:       r.GetPort(),
		PortEnd:    r.GetPortEnd(),
		Kind:       r.GetKind(),
	}
	path, ok := s.paths[k]
	if !ok {
		if !s.admittedLocked(k) {
			return notPlanned
		}
		if s.limits.MaxPathsPerProbe > 0 && probe.paths >= s.limits.MaxPathsPerProbe {
			return overPathLimit
		}
		path = &Path{Key: k, recent: &window{}}
		s.paths[k] = path
		probe.paths++
	}
	code := r.GetCode()
	if !vocab.ValidCode(code) {
		code = linkmeshv1.Code_CODE_ERROR // Validate refuses these; never index out of range
	}
	path.Counts[code]++
	if Failed(code, r.GetRefusedIsReach()) {
		path.Failures++
	}
	path.SYNRetransmits += uint64(r.GetSynRetransmits())
	t := s.clampLocked(probe, r.GetTime().AsTime(), st)
	if code == linkmeshv1.Code_CODE_OK && r.GetRtt() != nil {
		rtt := r.GetRtt().AsDuration()
		sec := rtt.Seconds()
		path.RTTSum += sec
		path.RTTCount++
		path.BucketCounts[sort.SearchFloat64s(Buckets[:], sec)]++
	}
	// Every result counted is the path's latest: Ingest counts a probe's
	// results in sequence order, each above the cursor, and a new epoch is a
	// new registration. The probe's clock orders nothing (one result stamped
	// in 2100 would otherwise freeze the path's state).
	path.LastEpoch = probe.Epoch
	path.RefusedIsReach = r.GetRefusedIsReach()
	path.Last = code
	path.LastTime = t
	path.LastDetail = r.GetDetail()
	path.LastRTT = r.GetRtt().AsDuration() // 0 when the attempt measured none
	s.countFiguresLocked(path, r, t)
	smp := newSample(t)
	smp.code, smp.syn, smp.loss = code, r.GetSynRetransmits(), r.GetLossRatio()
	smp.exchanges, smp.exchangesLost = r.GetExchanges(), r.GetExchangesLost()
	if r.GetRtt() != nil {
		smp.rtt = r.GetRtt().AsDuration()
	}
	if r.GetJitter() != nil {
		smp.jitter = r.GetJitter().AsDuration()
	}
	path.recent.add(smp)
	if code == linkmeshv1.Code_CODE_OK {
		path.LastSuccess = t
		path.LastSuccessRTT = r.GetRtt().AsDuration()
	}
	return counted
}

// countFiguresLocked keeps the latest path-MTU check, throughput and
// addresses of a path (latest by sequence: replays are never counted again).
func (s *Store) countFiguresLocked(path *Path, r *linkmeshv1.Result, t time.Time) {
	if m := r.GetMtuBytes(); m > 0 {
		path.MTU, path.MTUBlackhole, path.MTUTime = m, r.GetMtuBlackhole(), t
	}
	if tp := r.GetThroughputBitsPerSecond(); tp > 0 {
		path.Throughput, path.ThroughputTime = tp, t
	}
	if a := r.GetAddresses(); len(a) > 0 {
		path.Addresses = append([]string(nil), a...)
	}
}

// batchClock is the clock and the skew bound as of the batch being ingested,
// read once per batch (Ingest): a clock read per result cost 3 % of ingest.
type batchClock struct {
	now  time.Time
	skew time.Duration
}

// startBatchLocked reads the batch's clock and skew bound.
func (s *Store) startBatchLocked() {
	s.batch = batchClock{now: s.now(), skew: DefaultMaxClockSkew}
	if s.skew != nil {
		if d := s.skew(); d > 0 {
			s.batch.skew = d
		}
	}
}

// countOutcome is what countLocked did with a result.
type countOutcome int

const (
	counted       countOutcome = iota
	overPathLimit              // a new path beyond Limits.MaxPathsPerProbe
	notPlanned                 // a new path no plan holds (SetPlanned)
)
