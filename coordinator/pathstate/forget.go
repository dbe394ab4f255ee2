package pathstate

import (
	"cmp"
	"slices"
	"time"
)

// DefaultForgetAfter is the config's default forget_after: a probe silent
// this long is forgotten with its paths.
const DefaultForgetAfter = 7 * 24 * time.Hour

// Forgotten is a probe Forget or ForgetSilent removed, for the caller's log.
type Forgotten struct {
	Name string
	Site string
	// LastSeen is the probe's latest registration or report (coordinator clock).
	LastSeen time.Time
	// Paths is how many paths left with it: those it measured and those that
	// measured it.
	Paths int
}

// lastSeen is the later of the probe's latest registration and report.
func (p *Probe) lastSeen() time.Time {
	if p.LastReport.After(p.Registered) {
		return p.LastReport
	}
	return p.Registered
}

// ForgetSilent forgets every probe that neither registered nor reported for
// after (and holds no plan stream open), with its paths; after ≤ 0 forgets
// nothing. It returns what it forgot, sorted by name. A forgotten probe that
// comes back registers as new: its counters start again from 0.
func (s *Store) ForgetSilent(after time.Duration) []Forgotten {
	if after <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cutoff := s.now().Add(-after)
	var names []string
	for name, p := range s.probes {
		if p.Streams == 0 && p.lastSeen().Before(cutoff) {
			names = append(names, name)
		}
	}
	return s.forgetLocked(names)
}

// Forget forgets the named probes at once with their paths (the config's
// forget list); names the store does not know are skipped. A probe that holds
// a plan stream open is still running: it is not forgotten but returned in
// running (stop it first). forgot is sorted by name.
func (s *Store) Forget(names ...string) (forgot []Forgotten, running []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var idle []string
	for _, name := range names {
		if p, ok := s.probes[name]; ok && p.Streams > 0 {
			running = append(running, name)
			continue
		}
		idle = append(idle, name)
	}
	return s.forgetLocked(idle), running
}

// forgetLocked removes the probes and every path they are the source or the
// probe target of, from memory and from the counters of the committed
// checkpoint (so a probe that comes back starts from 0); the next checkpoint
// leaves them out.
func (s *Store) forgetLocked(names []string) []Forgotten {
	var out []Forgotten
	for _, name := range names {
		p, ok := s.probes[name]
		if !ok {
			continue
		}
		f := Forgotten{Name: name, Site: p.Info.GetSite(), LastSeen: p.lastSeen()}
		for k := range s.paths {
			measured := k.Source == name
			// A probe target's path carries the probe's name and site; a
			// static target of another site is left alone.
			target := k.Target == name && k.TargetSite == f.Site
			if !measured && !target {
				continue
			}
			if src, ok := s.probes[k.Source]; ok && src.paths > 0 {
				src.paths--
			}
			delete(s.paths, k)
			delete(s.committed.paths, k)
			f.Paths++
		}
		delete(s.probes, name)
		delete(s.committed.probes, name)
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil
	}
	s.version++
	s.notifyLocked()
	slices.SortFunc(out, func(a, b Forgotten) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
