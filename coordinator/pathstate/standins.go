package pathstate

import (
	"slices"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// SetStandIns records the stand-in endpoints a probe reports. When the ports it
// serves change, plans are recomputed (echo targets through a stand-in turn
// into tcp targets of the real endpoint, and back).
func (s *Store) SetStandIns(probe string, statuses []*linkmeshv1.StandInStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.probes[probe]
	if !ok {
		return
	}
	before := servingPorts(p.StandIns)
	p.StandIns = statuses
	if !slices.Equal(before, servingPorts(statuses)) {
		s.notifyLocked()
	}
}

// Serving reports whether probe serves a stand-in on port. The planner calls it
// through policy.Serving.
func (s *Store) Serving(probe string, port uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.probes[probe]
	return ok && slices.Contains(servingPorts(p.StandIns), port)
}

func servingPorts(statuses []*linkmeshv1.StandInStatus) []uint32 {
	var ports []uint32
	for _, st := range statuses {
		if st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
			ports = append(ports, st.GetPort())
		}
	}
	slices.Sort(ports)
	return ports
}

// SetBacklog records the backlog a probe reported (ReportRequest.backlog).
func (s *Store) SetBacklog(probe string, backlog uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[probe]; ok {
		p.Backlog = backlog
	}
}
