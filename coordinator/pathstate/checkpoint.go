package pathstate

import (
	"fmt"
	"math"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// CheckpointVersion is the format version of Checkpoint; Restore refuses others.
const CheckpointVersion = 1

// Checkpoint is the part of the store that survives a coordinator restart: every
// probe's description and ingest cursor, and every path's counters and latest
// outcome, taken under one lock so counters and cursors agree. The recent-attempt
// windows (loss, jitter) are left out: they refill from new results.
type Checkpoint struct {
	Version int               `json:"version"`
	Taken   time.Time         `json:"taken"`
	Probes  []ProbeCheckpoint `json:"probes"`
	Paths   []PathCheckpoint  `json:"paths"`
	// Totals continue across restarts (checkpoints written before they were
	// kept restore them as 0).
	Totals Totals `json:"totals"`
}

// ProbeCheckpoint is one probe in a Checkpoint.
type ProbeCheckpoint struct {
	Name             string            `json:"name"`
	Site             string            `json:"site"`
	Labels           map[string]string `json:"labels,omitempty"`
	Version          string            `json:"version,omitempty"`
	OS               string            `json:"os,omitempty"`
	ResponderAddress string            `json:"responder_address,omitempty"`
	Registered       time.Time         `json:"registered"`
	LastReport       time.Time         `json:"last_report"`
	Epoch            uint64            `json:"epoch"`
	Seq              uint64            `json:"seq"`
	DroppedTotal     uint64            `json:"dropped_total"`
	DroppedEpoch     uint64            `json:"dropped_epoch"`
	Gaps             uint64            `json:"gaps"`
	Rejected         uint64            `json:"rejected"`
}

// PathCheckpoint is one path in a Checkpoint.
type PathCheckpoint struct {
	Key
	Counters
	Last        linkmeshv1.Code `json:"last"`
	LastTime    time.Time       `json:"last_time"`
	LastSuccess time.Time       `json:"last_success"`
	LastRTT     time.Duration   `json:"last_rtt"`
	// LastSuccessRTT: see Path (older checkpoints lack it).
	LastSuccessRTT time.Duration `json:"last_success_rtt,omitempty"`
	LastDetail     string        `json:"last_detail,omitempty"`
	// RefusedIsReach and LastEpoch: see Path.
	RefusedIsReach bool   `json:"refused_is_reach,omitempty"`
	LastEpoch      uint64 `json:"last_epoch,omitempty"`
	// The latest path-MTU check and burst (see Path): kept so a restart does
	// not drop linkmesh_path_mtu_blackhole until the next check, which would
	// resolve and re-fire its alert. Older checkpoints simply lack them.
	MTU            uint32    `json:"mtu,omitempty"`
	MTUBlackhole   bool      `json:"mtu_blackhole,omitempty"`
	MTUTime        time.Time `json:"mtu_time,omitzero"`
	Throughput     float64   `json:"throughput,omitempty"`
	ThroughputTime time.Time `json:"throughput_time,omitzero"`
}

// committed holds the counters of the last committed checkpoint, for export.
type committed struct {
	paths  map[Key]Counters
	probes map[string]ProbeCheckpoint
	totals Totals
}

// EnableCheckpoints makes the store answer acks and export counters from
// committed checkpoints only (see Cursor and Snapshot): the coordinator calls it
// when it has a state directory, before serving.
func (s *Store) EnableCheckpoints() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoints = true
}

// Checkpoint copies the durable part of the store. Unless force is set, changed
// is false (and the checkpoint nil) when nothing changed since the previous call.
func (s *Store) Checkpoint(force bool) (c *Checkpoint, changed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !force && s.version == s.checkpointed {
		return nil, false
	}
	s.checkpointed = s.version
	c = &Checkpoint{Version: CheckpointVersion, Taken: s.now(), Probes: make([]ProbeCheckpoint, 0, len(s.probes)), Paths: make([]PathCheckpoint, 0, len(s.paths)), Totals: s.totals}
	for name, p := range s.probes {
		i := p.Info
		c.Probes = append(c.Probes, ProbeCheckpoint{
			Name: name, Site: i.GetSite(), Labels: i.GetLabels(), Version: i.GetVersion(), OS: i.GetOs(),
			ResponderAddress: i.GetResponderAddress(), Registered: p.Registered, LastReport: p.LastReport,
			Epoch: p.Epoch, Seq: p.AckedSeq, DroppedTotal: p.DroppedTotal, DroppedEpoch: p.droppedEpoch,
			Gaps: p.Gaps, Rejected: p.Rejected,
		})
	}
	for _, p := range s.paths {
		c.Paths = append(c.Paths, PathCheckpoint{
			Key: p.Key, Counters: p.Counters, Last: p.Last, LastTime: p.LastTime,
			LastSuccess: p.LastSuccess, LastRTT: p.LastRTT, LastSuccessRTT: p.LastSuccessRTT, LastDetail: p.LastDetail,
			RefusedIsReach: p.RefusedIsReach, LastEpoch: p.LastEpoch,
			MTU: p.MTU, MTUBlackhole: p.MTUBlackhole, MTUTime: p.MTUTime,
			Throughput: p.Throughput, ThroughputTime: p.ThroughputTime,
		})
	}
	return c, true
}

// Commit records that c is durable: acks may now cover its cursors, and the
// exported counters become its counters.
func (s *Store) Commit(c *Checkpoint) {
	cm := committed{paths: make(map[Key]Counters, len(c.Paths)), probes: make(map[string]ProbeCheckpoint, len(c.Probes)), totals: c.Totals}
	for _, p := range c.Paths {
		cm.paths[p.Key] = p.Counters
	}
	for _, p := range c.Probes {
		cm.probes[p.Name] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed = cm
	for _, pc := range c.Probes {
		if p, ok := s.probes[pc.Name]; ok {
			p.durableEpoch, p.durableSeq = pc.Epoch, pc.Seq
		}
	}
}

// maxRestoredSeq bounds a restored cursor: a probe's numbers start below
// MaxFirstSeq (2^40) and grow by at most MaxSeqJump plus its drops per batch,
// so a cursor near 2^64 (accepted by coordinators before the bound) is no
// honest probe's, and would make the probe's next number wrap to 0.
const maxRestoredSeq = 1 << 62

// Dropped says what Restore left out of a checkpoint because it fails the
// rules Register and Ingest apply (a damaged or hand-edited file, or one
// written before those rules).
type Dropped struct {
	Probes, Paths int
	// First is why the first of them was left out.
	First error
}

func (d *Dropped) add(probe bool, err error) {
	if probe {
		d.Probes++
	} else {
		d.Paths++
	}
	if d.First == nil {
		d.First = err
	}
}

// Restore loads a checkpoint into an empty store (at startup, before serving)
// and commits it: the probes' cursors and the counters continue from it.
// Probes and paths that fail validation (ValidateProbe, and for paths the rules
// of ValidateResult) are left out, with the paths of a probe left out, and
// counted in the Dropped returned; the caller logs them.
func (s *Store) Restore(c *Checkpoint) (Dropped, error) {
	var d Dropped
	if c.Version != CheckpointVersion {
		return d, fmt.Errorf("checkpoint format %d; this coordinator reads %d", c.Version, CheckpointVersion)
	}
	kept := *c
	kept.Probes, kept.Paths = make([]ProbeCheckpoint, 0, len(c.Probes)), make([]PathCheckpoint, 0, len(c.Paths))
	bad := map[string]bool{}
	for _, pc := range c.Probes {
		err := ValidateProbe(pc.info())
		if err == nil && pc.Seq > maxRestoredSeq {
			err = fmt.Errorf("cursor %d: beyond any a probe reaches (%d)", pc.Seq, uint64(maxRestoredSeq))
		}
		if err != nil {
			bad[pc.Name] = true
			d.add(true, fmt.Errorf("probe %.80q: %w", pc.Name, err))
			continue
		}
		kept.Probes = append(kept.Probes, pc)
	}
	for _, pc := range c.Paths {
		if err := validatePath(&pc); err != nil {
			d.add(false, fmt.Errorf("path %.80q → %.80q: %w", pc.Source, pc.Target, err))
			continue
		}
		if bad[pc.Source] {
			d.add(false, fmt.Errorf("path %.80q → %.80q: its probe was left out", pc.Source, pc.Target))
			continue
		}
		kept.Paths = append(kept.Paths, pc)
	}
	c = &kept
	s.mu.Lock()
	if len(s.probes) != 0 || len(s.paths) != 0 {
		s.mu.Unlock()
		return d, fmt.Errorf("restore into a store that is in use")
	}
	for _, pc := range c.Probes {
		s.probes[pc.Name] = &Probe{
			Info:       pc.info(),
			Registered: pc.Registered, LastReport: pc.LastReport, Epoch: pc.Epoch, AckedSeq: pc.Seq,
			DroppedTotal: pc.DroppedTotal, droppedEpoch: pc.DroppedEpoch, Gaps: pc.Gaps, Rejected: pc.Rejected,
		}
	}
	for _, pc := range c.Paths {
		if p, ok := s.probes[pc.Source]; ok {
			p.paths++
		}
		s.paths[pc.Key] = &Path{
			Key: pc.Key, Counters: pc.Counters, Last: pc.Last, LastTime: pc.LastTime,
			LastSuccess: pc.LastSuccess, LastRTT: pc.LastRTT, LastSuccessRTT: pc.LastSuccessRTT, LastDetail: pc.LastDetail,
			RefusedIsReach: pc.RefusedIsReach, LastEpoch: pc.LastEpoch, recent: &window{},
			MTU: pc.MTU, MTUBlackhole: pc.MTUBlackhole, MTUTime: pc.MTUTime,
			Throughput: pc.Throughput, ThroughputTime: pc.ThroughputTime,
		}
	}
	s.totals = c.Totals
	s.notifyLocked()
	s.mu.Unlock()
	s.Commit(c)
	return d, nil
}

// info is the probe's description as Register would have received it.
func (pc *ProbeCheckpoint) info() *linkmeshv1.ProbeInfo {
	return &linkmeshv1.ProbeInfo{
		Name: pc.Name, Site: pc.Site, Labels: pc.Labels, Version: pc.Version, Os: pc.OS,
		ResponderAddress: pc.ResponderAddress, Epoch: pc.Epoch,
	}
}

// validatePath checks a checkpointed path with the rules Ingest applies to the
// results that make a path: its key and latest outcome as one result.
func validatePath(pc *PathCheckpoint) error {
	if !labelValueRe.MatchString(pc.Source) || !labelValueRe.MatchString(pc.SourceSite) {
		return fmt.Errorf("source %.80q (site %.80q): not a valid probe name", pc.Source, pc.SourceSite)
	}
	r := &linkmeshv1.Result{
		Seq: 1, Time: timestamppb.New(time.Unix(0, 0)), Code: pc.Last, Kind: pc.Kind,
		Target: pc.Target, TargetSite: pc.TargetSite, Port: pc.Port, PortEnd: pc.PortEnd,
		Detail: pc.LastDetail, MtuBytes: pc.MTU, MtuBlackhole: pc.MTUBlackhole,
		ThroughputBitsPerSecond: pc.Throughput, Rtt: durationpb.New(pc.LastRTT),
	}
	if _, err := ValidateResult(r); err != nil {
		return err
	}
	if pc.RTTSum < 0 || math.IsNaN(pc.RTTSum) || math.IsInf(pc.RTTSum, 0) {
		return fmt.Errorf("rtt_sum: %v is not a sum of round trips", pc.RTTSum)
	}
	return nil
}
