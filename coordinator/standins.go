package coordinator

import (
	"context"
	"time"
)

// RequestStandIn asks probe to bind port on its host and serve the responder
// protocol there for d (at most plan.MaxStandIn), so the far side can prove
// the path to that port end to end before the real endpoint exists. The
// request goes out in the probe's plan as a lease the coordinator renews while
// ctx lasts (see plan.Planner.RequestStandIn). The check command asks for
// stand-ins through it.
func (s *Server) RequestStandIn(ctx context.Context, probe string, port uint32, d time.Duration) error {
	return s.plans.RequestStandIn(ctx, probe, port, d)
}

// ReleaseStandIn withdraws the stand-in asked of probe on port: the next plan
// no longer lists it, and the probe releases the port. It reports whether
// there was one.
func (s *Server) ReleaseStandIn(probe string, port uint32) bool {
	return s.plans.ReleaseStandIn(probe, port)
}
