package pathstate

import "time"

// Failures counts a path's recent attempts (the last 256 at most) in a time
// window, and those of them that count against the path (see Failed).
type Failures struct {
	Attempts int
	Failed   int
}

// Ratio is the share of the attempts that failed (0 without attempts).
func (f Failures) Ratio() float64 {
	if f.Attempts == 0 {
		return 0
	}
	return float64(f.Failed) / float64(f.Attempts)
}

// Failures returns, keyed by path, how many of every path's attempts that
// started at or after since (clamped probe time, as in Window) failed; paths without attempts since
// then are left out. It is the attempt-failure figure, apart from packet loss
// (Window's LossRatio): a path can lose packets and still complete every
// attempt, or fail attempts without losing a packet (refused, reset).
func (s *Store) Failures(since time.Time) map[Key]Failures {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failuresLocked(since)
}

func (s *Store) failuresLocked(since time.Time) map[Key]Failures {
	out := make(map[Key]Failures, len(s.paths))
	for k, p := range s.paths {
		if p.recent == nil {
			continue
		}
		var f Failures
		p.recent.each(func(smp sample) {
			if smp.before(since) {
				return
			}
			f.Attempts++
			if Failed(smp.code, p.RefusedIsReach) {
				f.Failed++
			}
		})
		if f.Attempts > 0 {
			out[k] = f
		}
	}
	return out
}
