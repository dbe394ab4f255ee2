package admit

import (
	"context"
	"fmt"
	"time"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// claimed returns the probe name a request speaks for. RunCheck is not a
// probe's call: see authorizeCheck.
func claimed(req any) (string, bool) {
	switch r := req.(type) {
	case *linkmeshv1.RegisterRequest:
		return r.GetProbe().GetName(), true
	case *linkmeshv1.WatchPlanRequest:
		return r.GetProbe(), true
	case *linkmeshv1.ReportRequest:
		return r.GetProbe(), true
	}
	return "", false
}

func remote(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "?"
}

// authorize checks that the caller's certificate vouches for the probe the
// request names (and, on Register, for the site it registers with), and the
// caller's request rate.
func (g *Gate) authorize(ctx context.Context, method string, req any) (*limiter, string, error) {
	name, ok := claimed(req)
	if !ok {
		return nil, "", status.Errorf(codes.PermissionDenied, "%s: not a call a probe makes", method)
	}
	var certSite string
	if g.secure {
		id, secured, err := tlsconf.PeerIdentity(ctx)
		if err == nil && secured && id.Role != tlsconf.RoleProbe {
			err = fmt.Errorf("%w (the certificate of %s)", tlsconf.ErrNotProbe, id)
		}
		if !secured || err != nil {
			g.Refuse(ReasonNotProbe, "call refused: no probe certificate", "method", method, "remote", remote(ctx), "error", fmt.Sprint(err))
			return nil, "", status.Error(codes.Unauthenticated, "a probe certificate is required")
		}
		if id.Name != name {
			g.Refuse(ReasonIdentity, "call refused: the certificate is for another probe than the request claims; nothing it sent is counted",
				"certificate_probe", id.Name, "claimed_probe", name, "method", method, "remote", remote(ctx))
			return nil, "", status.Errorf(codes.PermissionDenied, "this certificate is for probe %q, the request claims %q", id.Name, name)
		}
		certSite = id.Site
		if r, ok := req.(*linkmeshv1.RegisterRequest); ok {
			if err := g.checkSite(ctx, name, certSite, r.GetProbe().GetSite()); err != nil {
				return nil, "", err
			}
		}
	}
	lim := g.limiterFor(name)
	if lim == nil {
		g.Refuse(ReasonProbes, "call refused: too many probes are being tracked", "probe", name, "remote", remote(ctx))
		return nil, "", status.Error(codes.ResourceExhausted, "the coordinator tracks too many probes")
	}
	g.seen(ctx, lim, name, certSite, req)
	if err := g.take(lim.requests, 1, name, "requests"); err != nil {
		return nil, "", err
	}
	return lim, name, nil
}

// take takes n tokens from lim or returns ResourceExhausted with how long to wait.
func (g *Gate) take(lim *rate.Limiter, n int, name, what string) error {
	now := g.now()
	r := lim.ReserveN(now, n)
	if !r.OK() {
		return status.Errorf(codes.InvalidArgument, "%d %s at once exceed the burst of %d", n, what, lim.Burst())
	}
	delay := r.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	r.CancelAt(now)
	g.Refuse(ReasonRate, "call refused: probe over its rate; told to wait", "probe", name, "what", what, "wait", delay.Round(time.Millisecond))
	st, _ := status.New(codes.ResourceExhausted, fmt.Sprintf("probe %q sends %s faster than limits allow; retry after %v", name, what, delay.Round(time.Millisecond))).
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	return st.Err()
}

// UnaryInterceptor checks identity and rates of Register and Report.
func (g *Gate) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		lim, name, err := g.authorize(ctx, info.FullMethod, req)
		if err != nil {
			return nil, err
		}
		if r, ok := req.(*linkmeshv1.ReportRequest); ok && len(r.GetResults()) > 0 {
			if err := g.take(lim.results, len(r.GetResults()), name, "results"); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor checks identity of server streams (WatchPlan, RunCheck)
// and the plan-stream cap of WatchPlan: the check runs when the request
// message arrives, before the handler sees it. Only WatchPlan streams count
// against MaxPlanStreamsPerProbe.
func (g *Gate) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		w := &checkedStream{ServerStream: ss, g: g, method: info.FullMethod}
		defer w.release()
		return handler(srv, w)
	}
}

type checkedStream struct {
	grpc.ServerStream
	g       *Gate
	method  string
	checked bool
	holds   string          // probe whose stream slot this stream holds
	ctx     context.Context // RunCheck: the stream's context with its Caller
}

// Context is the stream's context; a RunCheck stream's carries its Caller
// (see CallerFrom) once the request has been received.
func (s *checkedStream) Context() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return s.ServerStream.Context()
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.checked {
		return nil
	}
	s.checked = true
	if _, check := m.(*linkmeshv1.RunCheckRequest); check {
		ctx, err := s.g.authorizeCheck(s.ServerStream.Context(), s.method)
		if err != nil {
			return err
		}
		s.ctx = ctx
		return nil
	}
	_, name, err := s.g.authorize(s.Context(), s.method, m)
	if err != nil {
		return err
	}
	if _, plan := m.(*linkmeshv1.WatchPlanRequest); !plan {
		return nil
	}
	g := s.g
	g.mu.Lock()
	if g.streams[name] >= g.limits.MaxPlanStreamsPerProbe {
		g.mu.Unlock()
		g.Refuse(ReasonStreams, "plan stream refused: the probe holds limits.max_plan_streams_per_probe already", "probe", name, "remote", remote(s.Context()))
		return status.Errorf(codes.ResourceExhausted, "probe %q has %d plan streams open already", name, g.limits.MaxPlanStreamsPerProbe)
	}
	g.streams[name]++
	s.holds = name
	g.mu.Unlock()
	return nil
}

func (s *checkedStream) release() {
	if s.holds == "" {
		return
	}
	g := s.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.streams[s.holds]--; g.streams[s.holds] <= 0 {
		delete(g.streams, s.holds)
	}
}
