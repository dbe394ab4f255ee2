package coordinator

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// runServer starts a coordinator with the config text on loopback; tweak (may
// be nil) adjusts it before it runs. It stops at the end of the test.
func runServer(t testing.TB, cfgText string, tweak func(*Server)) *Server {
	t.Helper()
	return runServerWith(t, cfgText, Options{Insecure: true}, tweak)
}

// runServerWith is runServer with opts.
func runServerWith(t testing.TB, cfgText string, opts Options, tweak func(*Server)) *Server {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// dial returns a client of the coordinator at addr (plain gRPC unless opts
// say otherwise), closed at the end of the test.
func dial(t testing.TB, addr string, opts ...grpc.DialOption) linkmeshv1.MeshServiceClient {
	t.Helper()
	return linkmeshv1.NewMeshServiceClient(dialConn(t, addr, opts...))
}

// dialConn is dial's connection.
func dialConn(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// fakeProbe plays a probe over the real API: it registers, keeps a plan
// stream open, answers stand-in requests and reports results for the targets
// of check rounds in its plans (the standing plan it ignores).
type fakeProbe struct {
	api  linkmeshv1.MeshServiceClient
	info *linkmeshv1.ProbeInfo

	// standIn is the answer to stand-in requests (unspecified: none).
	standIn linkmeshv1.StandInState
	// answers is how many results to report per round target (nil: all its
	// attempts).
	answers func(*linkmeshv1.Target) int
	// replay sends every report twice.
	replay bool

	mu       sync.Mutex
	plans    []*linkmeshv1.Plan
	answered map[string]bool // round target ids
	seq      uint64
}

// startProbe registers the fake and opens its plan stream; it runs until the
// end of the test. set (may be nil) configures its behaviour first.
func startProbe(t *testing.T, s *Server, api linkmeshv1.MeshServiceClient, name, site, responder string, set func(*fakeProbe)) *fakeProbe {
	t.Helper()
	p := &fakeProbe{api: api, info: &linkmeshv1.ProbeInfo{Name: name, Site: site, Epoch: 1, ResponderAddress: responder}, answered: map[string]bool{}}
	if set != nil {
		set(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: p.info}); err != nil {
		cancel()
		t.Fatalf("register %s: %v", name, err)
	}
	stream, err := api.WatchPlan(ctx, &linkmeshv1.WatchPlanRequest{Probe: name})
	if err != nil {
		cancel()
		t.Fatalf("plan stream of %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return // the test ended, or the coordinator stopped
			}
			p.follow(ctx, t, resp.GetPlan())
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitfor.Cond(t, 5*time.Second, name+"'s plan stream open", func() bool {
		st, ok := s.store.Lookup(name)
		return ok && st.Streams > 0
	})
	return p
}

// follow answers one plan: the stand-in statuses, then the round targets'
// results, one report per result.
func (p *fakeProbe) follow(ctx context.Context, t *testing.T, plan *linkmeshv1.Plan) {
	p.mu.Lock()
	p.plans = append(p.plans, plan)
	p.mu.Unlock()
	var statuses []*linkmeshv1.StandInStatus
	for _, si := range plan.GetStandIns() {
		if p.standIn != linkmeshv1.StandInState_STAND_IN_STATE_UNSPECIFIED {
			statuses = append(statuses, &linkmeshv1.StandInStatus{Port: si.GetPort(), State: p.standIn, Detail: "fake"})
		}
	}
	p.report(ctx, t, statuses, nil)
	for _, tg := range plan.GetTargets() {
		if tg.GetRound() == "" || p.answered[tg.GetId()] {
			continue
		}
		p.answered[tg.GetId()] = true
		n := int(tg.GetAttempts())
		if p.answers != nil {
			n = p.answers(tg)
		}
		for range n {
			p.report(ctx, t, statuses, []*linkmeshv1.Result{p.result(tg)})
		}
	}
}

func (p *fakeProbe) result(tg *linkmeshv1.Target) *linkmeshv1.Result {
	p.seq++
	r := &linkmeshv1.Result{
		Seq: p.seq, Time: timestamppb.Now(), TargetId: tg.GetId(), Kind: tg.GetKind(),
		Target: tg.GetName(), TargetSite: tg.GetSite(), Host: tg.GetHost(), Port: tg.GetPort(),
		Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond), Round: tg.GetRound(),
	}
	if tg.GetKind() == linkmeshv1.Kind_KIND_DNS {
		r.Addresses = []string{"198.18.1.2"}
	}
	return r
}

func (p *fakeProbe) report(ctx context.Context, t *testing.T, statuses []*linkmeshv1.StandInStatus, results []*linkmeshv1.Result) {
	req := &linkmeshv1.ReportRequest{Probe: p.info.GetName(), Epoch: 1, Results: results, StandIns: statuses}
	for range 1 + btoi(p.replay && len(results) > 0) {
		if _, err := p.api.Report(ctx, req); err != nil && ctx.Err() == nil {
			t.Errorf("report of %s: %v", p.info.GetName(), err)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// latest returns the newest plan the probe received.
func (p *fakeProbe) latest() *linkmeshv1.Plan {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.plans) == 0 {
		return nil
	}
	return p.plans[len(p.plans)-1]
}

// roundTargets counts the round targets and stand-ins of the newest plan.
func (p *fakeProbe) roundTargets() (targets, standIns int) {
	plan := p.latest()
	for _, t := range plan.GetTargets() {
		if t.GetRound() != "" {
			targets++
		}
	}
	return targets, len(plan.GetStandIns())
}

// counterValue is the value of the series name{labels...} (label name, value
// pairs) on s's registry, -1 when there is no such series.
func counterValue(t *testing.T, s *Server, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := gatherAll(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == labels[i] && l.GetValue() == labels[i+1] }) {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// gatherAll gathers what /metrics serves: s's registry and its path collector.
func gatherAll(s *Server) ([]*dto.MetricFamily, error) {
	own := prometheus.NewRegistry()
	if err := own.Register(s.paths); err != nil {
		return nil, err
	}
	return prometheus.Gatherers{s.reg, own}.Gather()
}
