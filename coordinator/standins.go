package coordinator

import (
	"fmt"
	"slices"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// MaxStandIn is the longest stand-in a coordinator asks a probe for.
const MaxStandIn = time.Hour

// standInRequest is a stand-in asked of one probe until a time.
type standInRequest struct {
	port   uint32
	d      time.Duration
	until  time.Time
	expiry *time.Timer // drops the request from the plan when it ends
}

// RequestStandIn asks probe to bind port on its host and serve the responder
// protocol there for d (at most MaxStandIn), so the far side can prove the
// path to that port end to end before the real endpoint exists. The request
// goes out in the probe's plan; the probe reports whether it serves, or the
// port is taken (then echo rules to that port measure it with tcp instead).
// The check command asks for stand-ins through it.
func (s *Server) RequestStandIn(probe string, port uint32, d time.Duration) error {
	if port == 0 || port > 65535 {
		return fmt.Errorf("stand-in port %d: not a TCP port", port)
	}
	if d <= 0 || d > MaxStandIn {
		return fmt.Errorf("stand-in for %v: give a duration up to %v", d, MaxStandIn)
	}
	if !s.store.Known(probe) {
		return fmt.Errorf("stand-in on %q: %w", probe, pathstate.ErrUnknownProbe)
	}
	p := s.plans
	p.mu.Lock()
	defer p.mu.Unlock()
	reqs := p.standIns[probe]
	for i, r := range reqs { // a new request for the port replaces the old one
		if r.port == port {
			r.expiry.Stop()
			reqs = append(reqs[:i], reqs[i+1:]...)
			break
		}
	}
	r := standInRequest{port: port, d: d, until: time.Now().Add(d)}
	r.expiry = time.AfterFunc(d, p.standInsExpired)
	p.standIns[probe] = append(reqs, r)
	p.dirty = true
	p.wakeLocked()
	return nil
}

// ReleaseStandIn withdraws the stand-in asked of probe on port (a check round
// releases the one it asked for when it ends): the next plan no longer lists
// it, and the probe releases the port. It reports whether there was one.
func (s *Server) ReleaseStandIn(probe string, port uint32) bool {
	p := s.plans
	p.mu.Lock()
	defer p.mu.Unlock()
	reqs := p.standIns[probe]
	i := slices.IndexFunc(reqs, func(r standInRequest) bool { return r.port == port })
	if i < 0 {
		return false
	}
	reqs[i].expiry.Stop()
	if reqs = slices.Delete(reqs, i, i+1); len(reqs) == 0 {
		delete(p.standIns, probe)
	} else {
		p.standIns[probe] = reqs
	}
	p.dirty = true
	p.wakeLocked()
	return true
}

// standInsExpired recomputes the plans when a stand-in request ends.
func (p *planner) standInsExpired() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
	p.wakeLocked()
}

// standInsLocked lists the probe's stand-ins still in force at now.
func (p *planner) standInsLocked(probe string, now time.Time) []*linkmeshv1.StandIn {
	var out []*linkmeshv1.StandIn
	kept := p.standIns[probe][:0]
	for _, r := range p.standIns[probe] {
		if !now.Before(r.until) {
			continue
		}
		kept = append(kept, r)
		out = append(out, &linkmeshv1.StandIn{Port: r.port, MaxDuration: durationpb.New(r.d)})
	}
	if len(kept) == 0 {
		delete(p.standIns, probe)
	} else {
		p.standIns[probe] = kept
	}
	return out
}

func equalStandIns(a, b []*linkmeshv1.StandIn) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
