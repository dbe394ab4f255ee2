package coordinator

import (
	"context"
	"net/netip"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/plan"
	"github.com/linkmesh/linkmesh/coordinator/round"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// newRounds builds the check-round runner over this server: its store, its
// planner and stand-ins, its gate (see package round).
func (s *Server) newRounds(times round.Times) *round.Runner {
	return round.New(round.Config{
		Probes:     s.store,
		Plans:      s.plans,
		StandIns:   roundStandIns{s},
		Gate:       s.gate,
		Bounds:     func() config.CheckRounds { return s.cfg.Load().CheckRounds.OrDefault() },
		Secured:    func() bool { return s.cfg.Load().TLS.CA != "" },
		Hint:       s.coordinatorHint,
		Stopping:   s.plans.Done(),
		Times:      times,
		Logger:     s.logger.With("component", "check"),
		Registerer: s.reg,
	})
}

// roundStandIns adapts the server's stand-in requests and the store's
// stand-in reports to round.StandIns.
type roundStandIns struct{ s *Server }

func (a roundStandIns) Request(ctx context.Context, probe string, port uint32, d time.Duration) error {
	return a.s.RequestStandIn(ctx, probe, port, min(d, plan.MaxStandIn))
}

func (a roundStandIns) Release(probe string, port uint32) { a.s.ReleaseStandIn(probe, port) }

func (a roundStandIns) Changed() <-chan struct{} { return a.s.standInReports.C() }

// Status is a copy of what probe last reported of its stand-in on port.
func (a roundStandIns) Status(probe string, port uint32) (*linkmeshv1.StandInStatus, bool) {
	p, ok := a.s.store.Lookup(probe)
	if !ok {
		return nil, false
	}
	for _, st := range p.StandIns {
		if st.GetPort() == port {
			return proto.Clone(st).(*linkmeshv1.StandInStatus), true
		}
	}
	return nil, false
}

// coordinatorHint is this coordinator's gRPC address as probes should dial it,
// as well as it knows.
func (s *Server) coordinatorHint() string {
	if a := s.cfg.Load().Listen.AdvertiseGRPC; a != "" {
		return a
	}
	if s.gossip != nil {
		return s.advertisedGRPC()
	}
	if ap, err := netip.ParseAddrPort(s.GRPCAddr().String()); err == nil && !ap.Addr().IsUnspecified() {
		return ap.String()
	}
	return "<this coordinator's address>"
}
