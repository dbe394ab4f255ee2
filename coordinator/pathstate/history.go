package pathstate

import (
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// Mark is one attempt of a path's recent history.
type Mark struct {
	// Time is when the attempt started (probe clock, clamped).
	Time time.Time
	Code linkmeshv1.Code
	// RTT is what the attempt measured (0: nothing).
	RTT time.Duration
}

// MaxHistory is the most attempts a path's history holds: the window the
// statistics are computed over.
const MaxHistory = windowSize

// ViewWithHistory is View plus every path's last n attempts (at most
// MaxHistory), oldest first, read under the same lock: the status page's
// reading.
func (s *Store) ViewWithHistory(staleAfter, window time.Duration, n int) (View, map[Key][]Mark) {
	n = min(max(n, 0), MaxHistory)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	since := now.Add(-window)
	v := View{Snapshot: s.snapshotLocked(now, staleAfter), Stats: s.windowLocked(since), Failures: s.failuresLocked(since)}
	hist := make(map[Key][]Mark, len(s.paths))
	for k, p := range s.paths {
		if p.recent == nil || p.recent.n == 0 || n == 0 {
			continue
		}
		marks := make([]Mark, 0, min(n, p.recent.n))
		skip := p.recent.n - n
		i := 0
		p.recent.each(func(smp sample) {
			if i >= skip {
				marks = append(marks, Mark{Time: smp.time(), Code: smp.code, RTT: smp.rtt})
			}
			i++
		})
		hist[k] = marks
	}
	return v, hist
}
