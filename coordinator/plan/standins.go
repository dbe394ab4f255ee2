package plan

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// MaxStandIn is the longest stand-in a coordinator asks a probe for.
const MaxStandIn = time.Hour

// StandInLease is how long a probe holds a stand-in after the coordinator
// last renewed it (Options.StandInLease overrides it). The coordinator renews
// every third of the lease while the request stands, so a coordinator that
// dies, or a request whose context ends without a release, frees the port
// within one lease.
const StandInLease = 30 * time.Second

// standInRequest is a stand-in asked of one probe until a time, renewed while
// its requester's context lasts. Guarded by Planner.mu.
type standInRequest struct {
	port    uint32
	d       time.Duration
	until   time.Time
	lease   time.Duration
	renewal uint64        // increased at every renewal: the probe starts its lease again
	expiry  *time.Timer   // drops the request from the plan when it ends
	stop    chan struct{} // closed when the request ends: its renewals stop
	ended   bool
}

// endLocked stops the request's timer and renewals (once).
func (r *standInRequest) endLocked() {
	r.expiry.Stop()
	if !r.ended {
		r.ended = true
		close(r.stop)
	}
}

// RequestStandIn asks probe to bind port on its host and serve the responder
// protocol there for d (at most MaxStandIn), so the far side can prove the
// path to that port end to end before the real endpoint exists. The request
// goes out in the probe's plan; the probe reports whether it serves, or the
// port is taken (then echo rules to that port measure it with tcp instead).
// The check command asks for stand-ins through it, with the round's context.
//
// The stand-in is a lease (StandInLease): the coordinator renews it while ctx
// lasts, and withdraws it when ctx ends. A probe that hears no renewal for a
// lease (the coordinator died, the plan stream broke) releases the port.
func (p *Planner) RequestStandIn(ctx context.Context, probe string, port uint32, d time.Duration) error {
	if port == 0 || port > 65535 {
		return fmt.Errorf("stand-in port %d: not a TCP port", port)
	}
	if d <= 0 || d > MaxStandIn {
		return fmt.Errorf("stand-in for %v: give a duration up to %v", d, MaxStandIn)
	}
	if !p.store.Known(probe) {
		return fmt.Errorf("stand-in on %q: %w", probe, pathstate.ErrUnknownProbe)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	reqs := p.standIns[probe]
	var renewal uint64
	for i, r := range reqs { // a new request for the port replaces the old one
		if r.port == port {
			r.endLocked()
			renewal = r.renewal + 1 // the probe sees the new request as a renewal
			reqs = slices.Delete(reqs, i, i+1)
			break
		}
	}
	lease := p.standInLease
	if lease <= 0 {
		lease = StandInLease
	}
	r := &standInRequest{port: port, d: d, until: time.Now().Add(d), lease: lease, renewal: renewal, stop: make(chan struct{})}
	r.expiry = time.AfterFunc(d, p.standInsExpired)
	p.standIns[probe] = append(reqs, r)
	p.dirty = true
	p.wakeLocked()
	go p.renewStandIn(ctx, probe, r)
	return nil
}

// renewStandIn renews r every third of its lease until it ends (released,
// replaced or expired), the planner stops, or ctx ends: then it withdraws r.
func (p *Planner) renewStandIn(ctx context.Context, probe string, r *standInRequest) {
	t := time.NewTicker(r.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-p.done:
			return
		case <-ctx.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			p.withdrawLocked(probe, r)
			return
		case <-t.C:
			p.mu.Lock()
			if !r.ended {
				r.renewal++
				p.dirty = true
				p.wakeLocked()
			}
			p.mu.Unlock()
		}
	}
}

// ReleaseStandIn withdraws the stand-in asked of probe on port (a check round
// releases the one it asked for when it ends): the next plan no longer lists
// it, and the probe releases the port. It reports whether there was one.
func (p *Planner) ReleaseStandIn(probe string, port uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.standIns[probe], func(r *standInRequest) bool { return r.port == port })
	if i < 0 {
		return false
	}
	p.withdrawLocked(probe, p.standIns[probe][i])
	return true
}

// withdrawLocked takes r out of probe's requests (if it is still there) and
// wakes the plan streams.
func (p *Planner) withdrawLocked(probe string, r *standInRequest) {
	reqs := p.standIns[probe]
	i := slices.Index(reqs, r)
	if i < 0 {
		return
	}
	r.endLocked()
	if reqs = slices.Delete(reqs, i, i+1); len(reqs) == 0 {
		delete(p.standIns, probe)
	} else {
		p.standIns[probe] = reqs
	}
	p.dirty = true
	p.wakeLocked()
}

// standInsExpired recomputes the plans when a stand-in request ends.
func (p *Planner) standInsExpired() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
	p.wakeLocked()
}

// standInsLocked lists the probe's stand-ins still in force at now.
func (p *Planner) standInsLocked(probe string, now time.Time) []*linkmeshv1.StandIn {
	var out []*linkmeshv1.StandIn
	var kept []*standInRequest
	for _, r := range p.standIns[probe] {
		if !now.Before(r.until) {
			r.endLocked()
			continue
		}
		kept = append(kept, r)
		out = append(out, &linkmeshv1.StandIn{Port: r.port, MaxDuration: durationpb.New(r.d), Lease: durationpb.New(r.lease), Renewal: r.renewal})
	}
	if len(kept) == 0 {
		delete(p.standIns, probe)
	} else {
		p.standIns[probe] = kept
	}
	return out
}
