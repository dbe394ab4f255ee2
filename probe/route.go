package probe

import (
	"context"

	"github.com/linkmesh/linkmesh/probe/standin"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// route hands every plan to the scheduler and its stand-in requests (with the
// probe's own --stand-in ports) to the stand-in manager, until ctx is done.
func (a *Agent) route(ctx context.Context, plans <-chan *linkmeshv1.Plan, toSched chan<- *linkmeshv1.Plan, toStandIns chan<- []standin.Request) error {
	send := func(reqs []standin.Request) bool {
		select {
		case toStandIns <- reqs:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !send(a.standInRequests(nil)) {
		return nil
	}
	for {
		var plan *linkmeshv1.Plan
		select {
		case <-ctx.Done():
			return nil
		case plan = <-plans:
		}
		select {
		case toSched <- plan:
		case <-ctx.Done():
			return nil
		}
		if !send(a.standInRequests(plan)) {
			return nil
		}
	}
}

// standInRequests lists what plan asks for, plus the probe's own ports
// (which win: they have no time limit).
func (a *Agent) standInRequests(plan *linkmeshv1.Plan) []standin.Request {
	var reqs []standin.Request
	for _, p := range a.cfg.StandIns {
		reqs = append(reqs, standin.Request{Port: p, Continuous: true})
	}
	for _, s := range plan.GetStandIns() {
		r := standin.Request{Port: s.GetPort(), Renewal: s.GetRenewal()}
		if d := s.GetMaxDuration(); d != nil && d.CheckValid() == nil {
			r.MaxDuration = d.AsDuration()
		}
		if d := s.GetLease(); d != nil && d.CheckValid() == nil {
			r.Lease = d.AsDuration()
		}
		reqs = append(reqs, r)
	}
	return reqs
}
