package round

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

// MaxStandIn is the longest stand-in a round asks for; StandIns.Request may
// clamp it further.
const MaxStandIn = time.Hour

// Run runs one check round for RunCheck: it checks who asks and what (the
// caller's role and rate, the request's bounds: see authorize, take and
// validate), marks both probes busy, asks for the stand-in when wanted, puts
// the round's targets into the probes' plans, streams progress through send
// while results arrive, and ends when every target has its attempts, at the
// round's deadline, when ctx ends or when the coordinator stops. Whatever
// happens it takes the targets and the stand-in out of the plans again; then,
// unless ctx ended, it sends the CheckRound as the last message.
func (r *Runner) Run(ctx context.Context, req *linkmeshv1.RunCheckRequest, send func(*linkmeshv1.RunCheckResponse) error) error {
	sp, caller, err := r.admit(ctx, req)
	if err != nil {
		r.outcomes.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	started := r.cfg.Now()
	rd, err := r.running.begin(newID(), started, sp.probe.GetName(), sp.peer.GetName())
	if err != nil {
		r.outcomes.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	defer r.running.end(rd)
	log := r.cfg.Logger.With("round", rd.id, "probe", sp.probe.GetName(), "peer", sp.peer.GetName(), "caller", caller.String(), "remote", caller.Addr)
	log.Info("check round started", "sql_endpoint", fmt.Sprintf("%s:%d", sp.host, sp.port), "stand_in", sp.standIn, "attempts", sp.attempts, "timeout", sp.timeout)
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if err := send(&linkmeshv1.RunCheckResponse{Event: &linkmeshv1.RunCheckResponse_Progress{Progress: msg}}); err != nil {
			log.Debug("progress not sent", "error", err)
		}
	}
	say("round %s: %s (site %s) and %s (site %s); SQL Server's endpoint %s port %d", rd.id, sp.probe.GetName(), sp.probe.GetSite(), sp.peer.GetName(), sp.peer.GetSite(), sp.host, sp.port)
	result, ended, err := r.run(ctx, rd, sp, say)
	if err != nil {
		r.outcomes.WithLabelValues(outcomeRefused).Inc()
		return err
	}
	r.outcomes.WithLabelValues(result.outcome).Inc()
	r.history.add(summarize(rd.id, caller.String(), caller.Addr, sp, started, r.cfg.Now().Sub(started), result))
	log.Info("check round ended", "outcome", result.outcome, "how", string(ended), "duration", r.cfg.Now().Sub(started).Round(time.Millisecond), "results", result.results())
	if ended == endCanceled {
		return status.FromContextError(ctx.Err()).Err()
	}
	return send(&linkmeshv1.RunCheckResponse{Event: &linkmeshv1.RunCheckResponse_Round{Round: result.round}})
}

// admit decides whether the caller may run req now: known (under mTLS),
// allowed, a valid request within the bounds, within the caller's rate.
func (r *Runner) admit(ctx context.Context, req *linkmeshv1.RunCheckRequest) (spec, admit.Caller, error) {
	bounds := r.cfg.Bounds()
	caller, ok := admit.CallerFrom(ctx)
	if !ok && r.cfg.Secured() {
		return spec{}, caller, status.Error(codes.Unauthenticated, "the caller of the check round is unknown")
	}
	if err := r.authorize(caller, req, bounds); err != nil {
		return spec{}, caller, err
	}
	sp, err := r.validate(req, bounds)
	if err != nil {
		r.callers.count(caller.String(), "refused")
		if r.callers.logAllowed() {
			r.cfg.Logger.Info("check round refused", "caller", caller.String(), "remote", caller.Addr, "probe", req.GetProbe(), "error", status.Convert(err).Message())
		}
		return spec{}, caller, err
	}
	if err := r.take(caller, req, bounds); err != nil {
		return spec{}, caller, err
	}
	if !caller.Secured {
		r.cfg.Logger.Warn("check round asked for by an unauthenticated caller (the coordinator runs without TLS: --insecure)", "remote", caller.Addr, "probe", req.GetProbe())
	}
	return sp, caller, nil
}

// outcome is what a round measured and how its collection ended.
type outcome struct {
	outcome string // outcomeComplete or outcomePartial
	round   *linkmeshv1.CheckRound
}

func (o outcome) results() int {
	n := 0
	for _, t := range o.round.GetTargets() {
		n += len(t.GetResults())
	}
	return n
}

// run is the round once admitted: the stand-in, the targets in the plans, the
// results, and everything out of the plans again. An error means the stand-in
// request was refused before anything was measured.
func (r *Runner) run(ctx context.Context, rd *round, sp spec, say func(string, ...any)) (outcome, roundEnd, error) {
	probe := sp.probe.GetName()
	var standIn *linkmeshv1.StandInStatus
	// Everything the round put into plans goes again, once, however it ends.
	cleanup := sync.OnceFunc(func() {
		r.cfg.Plans.DropRound(rd.id)
		if sp.standIn {
			r.cfg.StandIns.Release(probe, sp.port)
		}
	})
	defer cleanup()
	if sp.standIn {
		say("asking %s for a stand-in on %d…", probe, sp.port)
		t := r.cfg.Times
		budget := t.StandIn + time.Duration(sp.attempts)*(sp.timeout+burstTime+interval) + t.Slack + t.Release
		if err := r.cfg.StandIns.Request(ctx, probe, sp.port, min(budget, MaxStandIn)); err != nil {
			return outcome{}, "", status.Errorf(codes.FailedPrecondition, "stand_in: %v", err)
		}
		standIn = r.awaitStandIn(ctx, probe, sp.port)
		say("%s", standInNews(probe, sp.port, standIn, t.StandIn))
	}
	targets := sp.targets(rd.id, standIn.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING)
	r.running.setTargets(rd, targets)
	r.cfg.Plans.AddRound(byProbe(targets))
	say("%s", planNews(sp, targets))

	result, ended := r.collect(ctx, rd, targets, roundTime(targets)+r.cfg.Times.Slack, say)
	if sp.standIn {
		if st, ok := r.cfg.StandIns.Status(probe, sp.port); ok {
			standIn = st
		}
	}
	cleanup()
	round := &linkmeshv1.CheckRound{
		Id:      rd.id,
		Probe:   proto.Clone(sp.probe).(*linkmeshv1.ProbeInfo),
		Peer:    proto.Clone(sp.peer).(*linkmeshv1.ProbeInfo),
		SqlHost: sp.host,
		SqlPort: sp.port,
		StandIn: standIn,
		Targets: r.running.collect(rd),
		Started: timestamppb.New(rd.started),
	}
	if sp.standIn && ended != endCanceled && ended != endShutdown {
		round.StandInReleased = r.awaitReleased(ctx, probe, sp.port)
		if news := releaseNews(probe, sp.port, standIn, round.StandInReleased, r.cfg.Times.Release); news != "" {
			say("%s", news)
		}
	}
	round.Ended = timestamppb.New(r.cfg.Now())
	return outcome{outcome: result, round: round}, ended, nil
}

// byProbe groups the round's targets by the probe whose plan gets them.
func byProbe(targets []*roundTarget) map[string][]*linkmeshv1.Target {
	out := map[string][]*linkmeshv1.Target{}
	for _, t := range targets {
		out[t.source] = append(out[t.source], t.target)
	}
	return out
}

// planNews says what the round measures.
func planNews(sp spec, targets []*roundTarget) string {
	var roles []string
	for _, t := range targets {
		roles = append(roles, fmt.Sprintf("%s (%s)", t.role, t.describe()))
	}
	burst := ""
	if sp.burst > 0 {
		burst = fmt.Sprintf(" (echo_to_peer %v more for a burst of %d bytes on one attempt)", burstTime, sp.burst)
	}
	return fmt.Sprintf("%d attempts of each target, %v timeout%s: %s", sp.attempts, sp.timeout, burst, strings.Join(roles, ", "))
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

// releaseNews says whether the stand-in went away after the round.
func releaseNews(probe string, port uint32, st *linkmeshv1.StandInStatus, released bool, waited time.Duration) string {
	served := st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING || st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_ENDED
	switch {
	case !served:
		return "" // nothing was bound: nothing to release
	case released:
		return fmt.Sprintf("%s released the stand-in on %d", probe, port)
	}
	return fmt.Sprintf("%s did not report the stand-in on %d released within %v", probe, port, waited)
}
