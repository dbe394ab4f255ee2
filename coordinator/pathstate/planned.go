package pathstate

import "time"

// PlannedGrace is how long a path stays admitted after it left every plan: a
// probe's backlog of results for it (its spool after an outage, a batch in
// flight when the policy changed) is still counted.
const PlannedGrace = 15 * time.Minute

// SetPlanned tells the store which paths the probes' plans hold now (the
// planner calls it whenever it rebuilds them). From the first call on, a
// result that would create a path that is not planned now, nor was within
// PlannedGrace, is not counted (IngestStats.NotPlanned; the cursor moves past
// it): the paths, and so the series on /metrics, are bounded by what the
// policy expands to, not by what probes send. Paths that exist already keep
// counting. Before the first call every path is admitted.
func (s *Store) SetPlanned(keys []Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	next := make(map[Key]bool, len(keys))
	for _, k := range keys {
		next[k] = true
	}
	if s.plannedGone == nil {
		s.plannedGone = map[Key]time.Time{}
	}
	for k := range s.planned {
		if !next[k] {
			s.plannedGone[k] = now
		}
	}
	for k, left := range s.plannedGone {
		if next[k] || now.Sub(left) > PlannedGrace {
			delete(s.plannedGone, k)
		}
	}
	s.planned = next
}

// admittedLocked reports whether a result may create the path k.
func (s *Store) admittedLocked(k Key) bool {
	if s.planned == nil || s.planned[k] {
		return true
	}
	left, ok := s.plannedGone[k]
	return ok && s.now().Sub(left) <= PlannedGrace
}
