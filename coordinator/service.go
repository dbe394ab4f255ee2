package coordinator

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// service implements linkmeshv1.MeshServiceServer on top of the Server's state.
type service struct {
	linkmeshv1.UnimplementedMeshServiceServer
	s *Server
	// responderLog rate-limits the log of refused responder addresses.
	responderLog responderLog
}

// Register validates and records a probe, filling in its responder host from the
// connection's peer address when the probe left it empty or unspecified.
func (v *service) Register(ctx context.Context, req *linkmeshv1.RegisterRequest) (*linkmeshv1.RegisterResponse, error) {
	info := req.GetProbe()
	if err := pathstate.ValidateProbe(info); err != nil {
		v.s.rejected.WithLabelValues("invalid").Inc()
		return nil, status.Errorf(codes.InvalidArgument, "register: %v", err)
	}
	info = proto.Clone(info).(*linkmeshv1.ProbeInfo)
	info.ResponderAddress = fillHost(ctx, info.GetResponderAddress())
	if err := v.checkResponder(ctx, info); err != nil {
		return nil, err
	}
	cur, err := v.s.store.TryRegister(info)
	if err != nil {
		v.s.gate.Refuse(admit.ReasonProbes, "registration refused", "probe", info.GetName(), "error", err.Error())
		return nil, status.Errorf(codes.ResourceExhausted, "register: %v", err)
	}
	// The plans (and the paths the store admits) include this probe before
	// its first report: a probe restarting with a cached plan reports before
	// its plan stream asks.
	v.s.plans.Planned()
	v.s.logger.Debug("probe registered", "probe", info.GetName(), "site", info.GetSite(), "responder", info.GetResponderAddress(), "epoch", info.GetEpoch(), "acked_seq", cur.Acked, "received_seq", cur.Received)
	return &linkmeshv1.RegisterResponse{
		Coordinator:      v.s.cfg.Load().Name,
		AckedSeq:         cur.Acked,
		ReceivedSeq:      cur.Received,
		ResponderAddress: info.GetResponderAddress(),
	}, nil
}

// fillHost replaces an empty or unspecified host in addr with the gRPC peer's IP.
func fillHost(ctx context.Context, addr string) string {
	if addr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); host != "" && (err != nil || !ip.IsUnspecified()) {
		return addr
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return addr
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return addr
	}
	return net.JoinHostPort(ap.Addr().Unmap().String(), port)
}

// WatchPlan sends the probe's plan now and again whenever it changes.
func (v *service) WatchPlan(req *linkmeshv1.WatchPlanRequest, stream grpc.ServerStreamingServer[linkmeshv1.WatchPlanResponse]) error {
	name := req.GetProbe()
	if !v.s.store.Known(name) {
		v.s.rejected.WithLabelValues("unknown_probe").Inc()
		return status.Errorf(codes.FailedPrecondition, "probe %q has not registered; call Register first", name)
	}
	v.s.store.StreamOpened(name)
	defer v.s.store.StreamClosed(name)
	sent := req.GetKnownGeneration()
	first := true
	for {
		plan, membership, cfg, done := v.s.plans.Plan(name)
		if first || plan.GetGeneration() != sent {
			if err := stream.Send(&linkmeshv1.WatchPlanResponse{Plan: plan}); err != nil {
				return err
			}
			sent, first = plan.GetGeneration(), false
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-done:
			return status.Error(codes.Unavailable, "coordinator shutting down")
		case <-membership:
		case <-cfg:
		}
	}
}

// Report validates and ingests a batch, answering with the probe's cursor.
func (v *service) Report(ctx context.Context, req *linkmeshv1.ReportRequest) (*linkmeshv1.ReportResponse, error) {
	if err := pathstate.ValidateReport(req); err != nil {
		v.s.rejected.WithLabelValues("invalid").Inc()
		return nil, status.Errorf(codes.InvalidArgument, "report: %v", err)
	}
	st, err := v.s.store.Ingest(req.GetProbe(), req.GetEpoch(), req.GetDroppedTotal(), req.GetResults())
	switch {
	case errors.Is(err, pathstate.ErrUnknownProbe), errors.Is(err, pathstate.ErrEpochChanged):
		v.s.rejected.WithLabelValues("unknown_probe").Inc()
		return &linkmeshv1.ReportResponse{AckedSeq: st.AckedSeq, ReceivedSeq: st.ReceivedSeq, Reregister: true}, nil
	case errors.Is(err, pathstate.ErrSeqJump):
		v.s.rejected.WithLabelValues("seq_jump").Inc()
		return nil, status.Errorf(codes.InvalidArgument, "report: %v", err)
	case err != nil:
		return nil, status.Errorf(codes.Internal, "report: %v", err)
	}
	v.s.ingestStats.record(v.s.logger, req.GetProbe(), st)
	v.s.store.SetStandIns(req.GetProbe(), req.GetStandIns())
	v.s.store.SetBacklog(req.GetProbe(), req.GetBacklog())
	v.s.standInReports.Notify()
	v.s.recordMemberRTTs(req.GetProbe(), req.GetMemberRtts())
	v.s.rounds.Deliver(req.GetProbe(), st.Aside)
	if st.NotPlanned > 0 {
		v.s.gate.RefuseN(admit.ReasonNotPlanned, st.NotPlanned, "results refused: no plan holds their path (the policy does not expand to it)", "probe", req.GetProbe(), "results", st.NotPlanned)
	}
	if st.Rejected > 0 {
		v.s.gate.RefuseN(admit.ReasonPathLimit, st.Rejected, "results refused: the probe has limits.max_paths_per_probe paths already", "probe", req.GetProbe(), "results", st.Rejected)
	}
	return &linkmeshv1.ReportResponse{AckedSeq: st.AckedSeq, ReceivedSeq: st.ReceivedSeq}, nil
}

// RunCheck runs an on-demand check round between the probe on the SQL Server
// host and a probe of another site; see Server.runCheck.
func (v *service) RunCheck(req *linkmeshv1.RunCheckRequest, stream grpc.ServerStreamingServer[linkmeshv1.RunCheckResponse]) error {
	return v.s.rounds.Run(stream.Context(), req, stream.Send)
}
