package pathstate

import (
	"maps"
	"sort"
	"time"
)

// Snapshot is a consistent copy of the store for export.
type Snapshot struct {
	// Taken is when the snapshot was made (coordinator clock).
	Taken  time.Time
	Probes []ProbeState
	Paths  []Path

	byName map[string]int // index into Probes
}

// Probe returns the named probe's state, if known.
func (s *Snapshot) Probe(name string) (*ProbeState, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.Probes[i], true
}

// Known reports whether a path's state means anything now: its source probe is
// up, and, when the target is a probe's own responder, that probe is up too (a
// stopped probe's responder refuses connections; that is not a broken path).
// Unknown paths are exported without linkmesh_path_up.
func (s *Snapshot) Known(p *Path) bool {
	src, ok := s.Probe(p.Source)
	if !ok || !src.Up || p.LastEpoch != src.Epoch {
		return false
	}
	t, ok := s.Probe(p.Target)
	if !ok || t.Info.GetSite() != p.TargetSite || t.ResponderPort() != p.Port {
		return true
	}
	return t.Up
}

// ProbeState is a probe with its liveness judged at snapshot time.
type ProbeState struct {
	Probe
	// Up: the probe reported within the stale-after window, keeps its plan
	// stream open, and gossip does not say it is dead or gone.
	Up bool
}

// Snapshot copies the state. A probe is up when it reported within staleAfter.
// With checkpoints enabled, the counters (path Counters, probe DroppedTotal,
// Gaps and Rejected) are those of the last committed checkpoint, so what
// /metrics shows never goes backwards when a crash loses the uncommitted rest.
func (s *Store) Snapshot(staleAfter time.Duration) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked(s.now(), staleAfter)
}

// View is one consistent reading of the store, taken under one lock: the
// snapshot and the recent-window figures of every path as of the same moment.
// The exporter builds a whole scrape from one View, and the HTTP API an answer.
type View struct {
	Snapshot
	// Stats and Failures are Window's and Failures' figures for the attempts
	// since Taken minus the window, keyed by path; a path without attempts in
	// the window is absent.
	Stats    map[Key]Stats
	Failures map[Key]Failures
}

// View reads the store once: Snapshot(staleAfter) with Window and Failures
// over the last window, all under one lock.
func (s *Store) View(staleAfter, window time.Duration) View {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	since := now.Add(-window)
	return View{Snapshot: s.snapshotLocked(now, staleAfter), Stats: s.windowLocked(since), Failures: s.failuresLocked(since)}
}

func (s *Store) snapshotLocked(now time.Time, staleAfter time.Duration) Snapshot {
	snap := Snapshot{Taken: now, Probes: make([]ProbeState, 0, len(s.probes)), Paths: make([]Path, 0, len(s.paths))}
	for _, p := range s.probes {
		cp := *p
		cp.MemberRTTs = maps.Clone(p.MemberRTTs)
		if s.checkpoints {
			c := s.committed.probes[p.Info.GetName()]
			cp.DroppedTotal, cp.Gaps, cp.Rejected = c.DroppedTotal, c.Gaps, c.Rejected
		}
		snap.Probes = append(snap.Probes, ProbeState{Probe: cp, Up: p.up(now, staleAfter)})
	}
	for _, p := range s.paths {
		cp := *p
		cp.recent = nil
		if s.checkpoints {
			cp.Counters = s.committed.paths[p.Key]
		}
		snap.Paths = append(snap.Paths, cp)
	}
	sort.Slice(snap.Probes, func(i, j int) bool { return snap.Probes[i].Info.GetName() < snap.Probes[j].Info.GetName() })
	snap.byName = make(map[string]int, len(snap.Probes))
	for i, p := range snap.Probes {
		snap.byName[p.Info.GetName()] = i
	}
	sort.Slice(snap.Paths, func(i, j int) bool { return lessKey(snap.Paths[i].Key, snap.Paths[j].Key) })
	return snap
}

func lessKey(a, b Key) bool {
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	if a.Target != b.Target {
		return a.Target < b.Target
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	if a.PortEnd != b.PortEnd {
		return a.PortEnd < b.PortEnd
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.SourceSite != b.SourceSite {
		return a.SourceSite < b.SourceSite
	}
	return a.TargetSite < b.TargetSite
}
