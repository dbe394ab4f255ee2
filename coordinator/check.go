package coordinator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// checkTimes are the waits of a check round (tests shorten them).
type checkTimes struct {
	// standIn is how long to wait for the probe's answer to a stand-in request.
	standIn time.Duration
	// release is how long to wait, after the round, for the probe to report
	// the stand-in released.
	release time.Duration
	// slack is added to the round's attempts for plan delivery and reports.
	slack time.Duration
	// poll is how often the store is looked at while waiting.
	poll time.Duration
}

var defaultCheckTimes = checkTimes{standIn: 10 * time.Second, release: 5 * time.Second, slack: 15 * time.Second, poll: 100 * time.Millisecond}

// The outcomes of linkmesh_coordinator_check_rounds_total.
const (
	outcomeComplete = "complete"
	outcomePartial  = "partial"
	outcomeRefused  = "refused"
)

// runCheck runs one on-demand check round for RunCheck: it validates req,
// marks both probes busy, asks for the stand-in when wanted, puts the round's
// targets into the probes' plans, streams progress through send while results
// arrive, and ends when every target has its attempts, at the round's
// deadline, when ctx ends or when the coordinator stops. Whatever happens it
// takes the targets and the stand-in out of the plans again; then, unless ctx
// ended, it sends the CheckRound as the last message.
//
// Who may run it, how often and what it may test: see authorizeCheck and
// checkSpec (config check_rounds).
func (s *Server) runCheck(ctx context.Context, req *linkmeshv1.RunCheckRequest, send func(*linkmeshv1.RunCheckResponse) error) error {
	cfg := s.cfg.Load()
	bounds := cfg.CheckRounds.OrDefault()
	caller, ok := admit.CallerFrom(ctx)
	if !ok && cfg.TLS.CA != "" {
		s.checkRounds.WithLabelValues(outcomeRefused).Inc()
		return status.Error(codes.Unauthenticated, "the caller of the check round is unknown")
	}
	if err := s.authorizeCheck(caller, req, bounds); err != nil {
		s.checkRounds.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	spec, err := s.checkSpec(req, bounds)
	if err != nil {
		s.checkRounds.WithLabelValues(outcomeRefused).Inc()
		s.checkCallers.count(caller.String(), "refused")
		if s.checkCallers.logAllowed() {
			s.logger.Info("check round refused", "caller", caller.String(), "remote", caller.Addr, "probe", req.GetProbe(), "error", status.Convert(err).Message())
		}
		return err
	}
	if err := s.takeCheckRound(caller, req, bounds); err != nil {
		s.checkRounds.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	if !caller.Secured {
		s.logger.Warn("check round asked for by an unauthenticated caller (the coordinator runs without TLS: --insecure)", "remote", caller.Addr, "probe", req.GetProbe())
	}
	started := time.Now()
	r, err := s.rounds.begin(newRoundID(), started, spec.probe.GetName(), spec.peer.GetName())
	if err != nil {
		s.checkRounds.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	defer s.rounds.end(r)
	probe, peer := spec.probe.GetName(), spec.peer.GetName()
	log := s.logger.With("round", r.id, "probe", probe, "peer", peer, "caller", caller.String(), "remote", caller.Addr)
	log.Info("check round started", "sql_endpoint", fmt.Sprintf("%s:%d", spec.host, spec.port), "stand_in", spec.standIn, "attempts", spec.attempts, "timeout", spec.timeout)
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if err := send(&linkmeshv1.RunCheckResponse{Event: &linkmeshv1.RunCheckResponse_Progress{Progress: msg}}); err != nil {
			log.Debug("progress not sent", "error", err)
		}
	}
	say("round %s: %s (site %s) and %s (site %s); SQL Server's endpoint %s port %d", r.id, probe, spec.probe.GetSite(), peer, spec.peer.GetSite(), spec.host, spec.port)

	// Everything the round put into plans goes again, once, however it ends.
	var standIn *linkmeshv1.StandInStatus
	cleanup := sync.OnceFunc(func() {
		s.plans.dropRound(r.id)
		if spec.standIn {
			s.ReleaseStandIn(probe, spec.port)
		}
	})
	defer cleanup()
	if spec.standIn {
		say("asking %s for a stand-in on %d…", probe, spec.port)
		budget := s.checkTimes.standIn + time.Duration(spec.attempts)*(spec.timeout+checkBurstTime+checkInterval) + s.checkTimes.slack + s.checkTimes.release
		if err := s.RequestStandIn(ctx, probe, spec.port, min(budget, MaxStandIn)); err != nil {
			s.checkRounds.WithLabelValues(outcomeRefused).Inc()
			return status.Errorf(codes.FailedPrecondition, "stand_in: %v", err)
		}
		standIn = s.awaitStandIn(ctx, probe, spec.port)
		say("%s", standInNews(probe, spec.port, standIn, s.checkTimes.standIn))
	}
	serving := standIn.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING
	targets := spec.targets(r.id, serving)
	s.rounds.setTargets(r, targets)
	byProbe := map[string][]*linkmeshv1.Target{}
	var roles []string
	for _, t := range targets {
		byProbe[t.source] = append(byProbe[t.source], t.target)
		roles = append(roles, fmt.Sprintf("%s (%s)", t.role, t.describe()))
	}
	s.plans.addRound(byProbe)
	burst := ""
	if spec.burst > 0 {
		burst = fmt.Sprintf(" (echo_to_peer %v more for a burst of %d bytes on one attempt)", checkBurstTime, spec.burst)
	}
	say("%d attempts of each target, %v timeout%s: %s", spec.attempts, spec.timeout, burst, strings.Join(roles, ", "))

	outcome, ended := s.collect(ctx, r, targets, roundTime(targets)+s.checkTimes.slack, say)
	if spec.standIn {
		if st, ok := s.standInStatus(probe, spec.port); ok {
			standIn = st
		}
	}
	cleanup()
	round := &linkmeshv1.CheckRound{
		Id:      r.id,
		Probe:   proto.Clone(spec.probe).(*linkmeshv1.ProbeInfo),
		Peer:    proto.Clone(spec.peer).(*linkmeshv1.ProbeInfo),
		SqlHost: spec.host,
		SqlPort: spec.port,
		StandIn: standIn,
		Targets: s.rounds.collect(r),
		Started: timestamppb.New(started),
	}
	if spec.standIn && ended != endCanceled && ended != endShutdown {
		round.StandInReleased = s.awaitReleased(ctx, probe, spec.port)
		served := standIn.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING || standIn.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_ENDED
		switch {
		case !served: // nothing was bound: nothing to release
		case round.StandInReleased:
			say("%s released the stand-in on %d", probe, spec.port)
		default:
			say("%s did not report the stand-in on %d released within %v", probe, spec.port, s.checkTimes.release)
		}
	}
	round.Ended = timestamppb.Now()
	results := 0
	for _, t := range round.GetTargets() {
		results += len(t.GetResults())
	}
	s.checkRounds.WithLabelValues(outcome).Inc()
	log.Info("check round ended", "outcome", outcome, "how", string(ended), "duration", time.Since(started).Round(time.Millisecond), "results", results)
	if ended == endCanceled {
		return status.FromContextError(ctx.Err()).Err()
	}
	return send(&linkmeshv1.RunCheckResponse{Event: &linkmeshv1.RunCheckResponse_Round{Round: round}})
}

// standInNews says what became of a stand-in request.
func standInNews(probe string, port uint32, st *linkmeshv1.StandInStatus, waited time.Duration) string {
	switch st.GetState() {
	case linkmeshv1.StandInState_STAND_IN_STATE_SERVING:
		return fmt.Sprintf("%s serves a stand-in on %d", probe, port)
	case linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN:
		return fmt.Sprintf("port %d is taken on %s: P3 connects to what listens there", port, probe)
	case linkmeshv1.StandInState_STAND_IN_STATE_FAILED:
		return fmt.Sprintf("%s could not serve a stand-in on %d (%s): P3 connects with tcp", probe, port, st.GetDetail())
	}
	return fmt.Sprintf("%s did not answer the stand-in request within %v: P3 connects with tcp", probe, waited)
}
