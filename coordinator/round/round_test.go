package round

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The fakes below stand in for the coordinator's store, planner and stand-in
// bookkeeping (the real ones meet the Runner in the coordinator's RunCheck
// tests over gRPC). Time is synctest's: a round's seconds pass at once.

// mesh is sql1 (site sql, responder 10.0.0.5:5023) and mi1 (site mi,
// responder 10.1.0.4:5023), both connected; it plays their probes: targets
// put into a plan are answered after a delay, as a probe would.
type mesh struct {
	t       *testing.T
	runner  *Runner
	answer  func(*linkmeshv1.Target) linkmeshv1.Code // nil result: no answer
	delay   time.Duration
	standIn linkmeshv1.StandInState // what sql1 reports when asked (0: nothing)

	mu       sync.Mutex
	plans    map[string][]*linkmeshv1.Target
	standIns map[string]*linkmeshv1.StandInStatus // by probe
	reports  notify.Signal
	wg       sync.WaitGroup
	stopping chan struct{}
}

func newMesh(t *testing.T) *mesh {
	m := &mesh{t: t, plans: map[string][]*linkmeshv1.Target{}, standIns: map[string]*linkmeshv1.StandInStatus{}, delay: 50 * time.Millisecond, stopping: make(chan struct{})}
	m.answer = func(*linkmeshv1.Target) linkmeshv1.Code { return linkmeshv1.Code_CODE_OK }
	m.runner = New(Config{
		Probes: m, Plans: m, StandIns: m, Gate: m,
		Bounds:     func() config.CheckRounds { return config.CheckRounds{}.OrDefault() },
		Secured:    func() bool { return false },
		Hint:       func() string { return "127.0.0.1:7022" },
		Stopping:   m.stopping,
		Registerer: prometheus.NewRegistry(),
	})
	return m
}

var infos = map[string]*linkmeshv1.ProbeInfo{
	"sql1": {Name: "sql1", Site: "sql", ResponderAddress: "10.0.0.5:5023", Epoch: 1},
	"mi1":  {Name: "mi1", Site: "mi", ResponderAddress: "10.1.0.4:5023", Epoch: 1},
}

func (m *mesh) Lookup(name string) (pathstate.Probe, bool) {
	i, ok := infos[name]
	return pathstate.Probe{Info: i, Streams: 1}, ok
}

func (m *mesh) Connected() []*linkmeshv1.ProbeInfo {
	return []*linkmeshv1.ProbeInfo{infos["mi1"], infos["sql1"]}
}

func (m *mesh) Refuse(reason, msg string, args ...any) {
	m.t.Logf("refused (%s): %s %v", reason, msg, args)
}

func (m *mesh) SeenAt(string) (netip.Addr, bool) { return netip.Addr{}, false }

// AddRound plays the probes: each target's attempts are answered, one per
// interval, each after m.delay.
func (m *mesh) AddRound(byProbe map[string][]*linkmeshv1.Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for probe, targets := range byProbe {
		m.plans[probe] = append(m.plans[probe], targets...)
		for _, tg := range targets {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				for i := range tg.GetAttempts() {
					time.Sleep(m.delay) // fake time: the attempt's duration
					code := m.answer(tg)
					if code == linkmeshv1.Code_CODE_UNSPECIFIED {
						return
					}
					m.runner.Deliver(probe, []*linkmeshv1.Result{{
						Seq: uint64(i + 1), Round: tg.GetRound(), TargetId: tg.GetId(), Kind: tg.GetKind(),
						Code: code, Time: timestamppb.Now(), Rtt: durationpb.New(time.Millisecond),
					}})
				}
			}()
		}
	}
}

func (m *mesh) DropRound(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.plans {
		m.plans[p] = nil
	}
}

func (m *mesh) Request(_ context.Context, probe string, port uint32, _ time.Duration) error {
	if m.standIn == 0 {
		return nil
	}
	m.wg.Add(1)
	go func() { // the probe binds and reports a report interval later
		defer m.wg.Done()
		time.Sleep(time.Second)
		m.report(probe, &linkmeshv1.StandInStatus{Port: port, State: m.standIn})
	}()
	return nil
}

func (m *mesh) Release(probe string, port uint32) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		time.Sleep(time.Second)
		m.report(probe, &linkmeshv1.StandInStatus{Port: port, State: linkmeshv1.StandInState_STAND_IN_STATE_ENDED})
	}()
}

func (m *mesh) report(probe string, st *linkmeshv1.StandInStatus) {
	m.mu.Lock()
	m.standIns[probe] = st
	m.mu.Unlock()
	m.reports.Notify()
}

func (m *mesh) Status(probe string, port uint32) (*linkmeshv1.StandInStatus, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.standIns[probe]
	return st, ok && st.GetPort() == port
}

func (m *mesh) Changed() <-chan struct{} { return m.reports.C() }

// run runs one round and returns its progress lines and CheckRound.
func (m *mesh) run(ctx context.Context, req *linkmeshv1.RunCheckRequest) ([]string, *linkmeshv1.CheckRound, error) {
	var lines []string
	var got *linkmeshv1.CheckRound
	err := m.runner.Run(ctx, req, func(r *linkmeshv1.RunCheckResponse) error {
		if p := r.GetProgress(); p != "" {
			lines = append(lines, p)
		}
		if r.GetRound() != nil {
			got = r.GetRound()
		}
		return nil
	})
	m.wg.Wait()
	return lines, got, err
}

func TestRoundComplete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		start := time.Now()
		lines, got, err := m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 2})
		if err != nil {
			t.Fatal(err)
		}
		var roles []string
		for _, tg := range got.GetTargets() {
			roles = append(roles, tg.GetRole())
			if len(tg.GetResults()) != 2 {
				t.Errorf("%s: %d results, want 2", tg.GetRole(), len(tg.GetResults()))
			}
		}
		if want := []string{vocab.RoleP3, vocab.RoleEchoToPeer, vocab.RoleEchoFromPeer}; strings.Join(roles, " ") != strings.Join(want, " ") {
			t.Errorf("roles %v, want %v", roles, want)
		}
		if got.GetPeer().GetName() != "mi1" || got.GetSqlHost() != "10.0.0.5" || got.GetSqlPort() != 5022 {
			t.Errorf("round %s → %s:%d with peer %s; want 10.0.0.5:5022 with mi1", got.GetProbe().GetName(), got.GetSqlHost(), got.GetSqlPort(), got.GetPeer().GetName())
		}
		// Driven by the deliveries: the round ends with the last result, not at a tick.
		if d := time.Since(start); d != 2*m.delay {
			t.Errorf("the round took %v of fake time, want %v (two attempts)", d, 2*m.delay)
		}
		if n := testutil.ToFloat64(m.runner.outcomes.WithLabelValues(outcomeComplete)); n != 1 {
			t.Errorf("complete rounds %v, want 1", n)
		}
		if m.runner.Running() != 0 {
			t.Error("the round is still running after Run returned")
		}
		if !strings.Contains(strings.Join(lines, "\n"), "p3: 2/2 attempts (mi1 → 10.0.0.5:5022: ok)") {
			t.Errorf("progress lines lack p3's last advance:\n%s", strings.Join(lines, "\n"))
		}
		// The status page's record of it.
		recent := m.runner.Recent()
		if len(recent) != 1 {
			t.Fatalf("Recent: %d rounds, want 1", len(recent))
		}
		s := recent[0]
		if s.ID != got.GetId() || s.Probe != "sql1" || s.Peer != "mi1" || s.Outcome != outcomeComplete || s.Took != 2*m.delay || len(s.Rows) != 3 {
			t.Errorf("summary %+v", s)
		}
		if r := s.Rows[0]; r.Role != vocab.RoleP3 || r.Results["ok"] != 2 || r.Latest != "ok" {
			t.Errorf("p3 row %+v", r)
		}
	})
}

// TestRoundDeadline: a target whose results stay away ends the round at its
// deadline (attempts × (timeout + interval) + slack), partial, saying which.
func TestRoundDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		m.answer = func(tg *linkmeshv1.Target) linkmeshv1.Code {
			if strings.HasSuffix(tg.GetId(), "/"+vocab.RoleP3) {
				return linkmeshv1.Code_CODE_UNSPECIFIED
			}
			return linkmeshv1.Code_CODE_OK
		}
		start := time.Now()
		lines, got, err := m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1, Timeout: durationpb.New(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Second + interval + DefaultTimes.Slack; time.Since(start) != want {
			t.Errorf("the round ended after %v, want its deadline %v", time.Since(start), want)
		}
		if n := len(got.GetTargets()[0].GetResults()); n != 0 {
			t.Errorf("p3 has %d results, want none", n)
		}
		if all := strings.Join(lines, "\n"); !strings.Contains(all, "the round is partial: p3 0/1 (mi1)") {
			t.Errorf("progress does not say p3 is short:\n%s", all)
		}
		if n := testutil.ToFloat64(m.runner.outcomes.WithLabelValues(outcomePartial)); n != 1 {
			t.Errorf("partial rounds %v, want 1", n)
		}
	})
}

// TestRoundStandIn: with a stand-in served, P3 is echo; the round waits for
// the stand-in report (not a poll), and after the round for the release.
func TestRoundStandIn(t *testing.T) {
	for _, tt := range []struct {
		state    linkmeshv1.StandInState
		wantKind linkmeshv1.Kind
		released bool
	}{
		{linkmeshv1.StandInState_STAND_IN_STATE_SERVING, linkmeshv1.Kind_KIND_ECHO, true},
		{linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN, linkmeshv1.Kind_KIND_TCP, true},
		{0, linkmeshv1.Kind_KIND_TCP, true}, // no answer within Times.StandIn
	} {
		t.Run(tt.state.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMesh(t)
				m.standIn = tt.state
				start := time.Now()
				lines, got, err := m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1, StandIn: true})
				if err != nil {
					t.Fatal(err)
				}
				if k := got.GetTargets()[0].GetTarget().GetKind(); k != tt.wantKind {
					t.Errorf("p3 kind %v, want %v", k, tt.wantKind)
				}
				if got.GetStandInReleased() != tt.released {
					t.Errorf("stand_in_released %v, want %v", got.GetStandInReleased(), tt.released)
				}
				wait := time.Second // the fake probe's report interval
				if tt.state == 0 {
					wait = DefaultTimes.StandIn
				}
				// the stand-in answer, one attempt, the release report: nothing polled.
				if want := wait + m.delay + time.Second; time.Since(start) != want {
					t.Errorf("the round took %v, want %v\n%s", time.Since(start), want, strings.Join(lines, "\n"))
				}
			})
		})
	}
}

// TestRoundRefused: a round on a busy probe, a bad request and a stopping
// coordinator are refused or cut short with the reason.
func TestRoundRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMesh(t)
		_, _, err := m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 11})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "attempts 11: at most 10") {
			t.Errorf("11 attempts: %v, want InvalidArgument", err)
		}
		m.answer = func(*linkmeshv1.Target) linkmeshv1.Code { return linkmeshv1.Code_CODE_UNSPECIFIED }
		first := make(chan error, 1)
		go func() {
			_, _, err := m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
			first <- err
		}()
		synctest.Wait()
		if m.runner.Running() != 1 {
			t.Fatalf("%d rounds running, want 1", m.runner.Running())
		}
		_, _, err = m.run(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
		if status.Code(err) != codes.Aborted {
			t.Errorf("a second round on sql1: %v, want Aborted", err)
		}
		close(m.stopping) // the coordinator stops: the first round ends with what it has
		if err := <-first; err != nil {
			t.Errorf("the round cut short by the coordinator's stop: %v, want its partial CheckRound", err)
		}
		if n := testutil.ToFloat64(m.runner.outcomes.WithLabelValues(outcomeRefused)); n != 2 {
			t.Errorf("refused rounds %v, want 2", n)
		}
	})
}
