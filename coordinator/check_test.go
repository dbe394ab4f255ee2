package coordinator

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/round"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fastChecks are shorter waits of check rounds for tests.
var fastChecks = round.Times{StandIn: time.Second, Release: 2 * time.Second, Slack: 5 * time.Second}

// checkConfig is baseConfig with check rounds on port 5099 too, and further
// names of sql1's host for its rounds' SQL host.
const checkConfig = baseConfig + `
check_rounds:
  sql_ports: [5022, 5099]
  sql_host_names: {sql1: [sql1.corp.example, 198.18.1.2]}
`

// runCheck calls RunCheck and reads the stream to its end: the progress
// lines, and the round (nil when the call failed).
func runCheck(ctx context.Context, api linkmeshv1.MeshServiceClient, req *linkmeshv1.RunCheckRequest) ([]string, *linkmeshv1.CheckRound, error) {
	stream, err := api.RunCheck(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var progress []string
	var round *linkmeshv1.CheckRound
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return progress, round, nil
		}
		if err != nil {
			return progress, nil, err
		}
		if round != nil {
			return progress, nil, errors.New("a message after the round")
		}
		if p, ok := resp.GetEvent().(*linkmeshv1.RunCheckResponse_Progress); ok {
			progress = append(progress, p.Progress)
		}
		round = resp.GetRound()
	}
}

// TestCheckRound runs rounds against fake probes over real gRPC: the round's
// targets reach the probes through their plans, the results come back in the
// CheckRound, none of them become path state, and the targets and the
// stand-in leave the plans after the round.
func TestCheckRound(t *testing.T) {
	tests := []struct {
		name      string
		req       *linkmeshv1.RunCheckRequest
		standIn   linkmeshv1.StandInState
		replay    bool
		wantRoles []string
		wantP3    linkmeshv1.Kind
		wantHost  string
		wantSay   []string
		wantState linkmeshv1.StandInState // of CheckRound.stand_in
		released  bool
	}{
		{
			name:      "stand-in serving: p3 is echo",
			req:       &linkmeshv1.RunCheckRequest{Probe: "sql1", StandIn: true, BurstBytes: 1 << 20},
			standIn:   linkmeshv1.StandInState_STAND_IN_STATE_SERVING,
			wantRoles: []string{vocab.RoleP3, vocab.RoleEchoToPeer, vocab.RoleEchoFromPeer},
			wantP3:    linkmeshv1.Kind_KIND_ECHO,
			wantHost:  "127.0.0.1",
			wantSay:   []string{"asking sql1 for a stand-in on 5022…", "sql1 serves a stand-in on 5022", "p3: 3/3 attempts (mi1 → 127.0.0.1:5022: ok)", "sql1 released the stand-in on 5022"},
			wantState: linkmeshv1.StandInState_STAND_IN_STATE_SERVING,
			released:  true,
		},
		{
			name:      "port taken: p3 is tcp",
			req:       &linkmeshv1.RunCheckRequest{Probe: "sql1", Peer: "mi1", SqlHost: "198.18.1.2", SqlPort: 5099, StandIn: true, Attempts: 2},
			standIn:   linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN,
			wantRoles: []string{vocab.RoleP3, vocab.RoleEchoToPeer, vocab.RoleEchoFromPeer},
			wantP3:    linkmeshv1.Kind_KIND_TCP,
			wantHost:  "198.18.1.2",
			wantSay:   []string{"port 5099 is taken on sql1: P3 connects to what listens there", "p3: 2/2 attempts (mi1 → 198.18.1.2:5099: ok)"},
			wantState: linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN,
			released:  true,
		},
		{
			name:      "no answer to the stand-in request: tcp",
			req:       &linkmeshv1.RunCheckRequest{Probe: "sql1", StandIn: true, Attempts: 1},
			wantRoles: []string{vocab.RoleP3, vocab.RoleEchoToPeer, vocab.RoleEchoFromPeer},
			wantP3:    linkmeshv1.Kind_KIND_TCP,
			wantHost:  "127.0.0.1",
			wantSay:   []string{"sql1 did not answer the stand-in request within 1s: P3 connects with tcp"},
			released:  true, // it never reported one: nothing is held
		},
		{
			name:      "sql host by name: d2, and replays counted once",
			req:       &linkmeshv1.RunCheckRequest{Probe: "sql1", SqlHost: "sql1.corp.example", Attempts: 4, Timeout: durationpb.New(2 * time.Second)},
			replay:    true,
			wantRoles: []string{vocab.RoleP3, vocab.RoleD2, vocab.RoleEchoToPeer, vocab.RoleEchoFromPeer},
			wantP3:    linkmeshv1.Kind_KIND_TCP,
			wantHost:  "sql1.corp.example",
			wantSay:   []string{"d2: 4/4 attempts (mi1 resolves sql1.corp.example: ok)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runServerWith(t, checkConfig, Options{Insecure: true, CheckTimes: fastChecks}, nil)
			api := dial(t, s.GRPCAddr().String())
			sql := startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", func(p *fakeProbe) { p.standIn, p.replay = tt.standIn, tt.replay })
			mi := startProbe(t, s, api, "mi1", "mi", "127.0.0.2:5023", func(p *fakeProbe) { p.replay = tt.replay })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			progress, round, err := runCheck(ctx, api, tt.req)
			if err != nil {
				t.Fatalf("RunCheck: %v (progress %q)", err, progress)
			}
			for _, want := range tt.wantSay {
				if !slices.Contains(progress, want) {
					t.Errorf("progress lacks %q:\n%s", want, strings.Join(progress, "\n"))
				}
			}
			if round.GetPeer().GetName() != "mi1" || round.GetProbe().GetName() != "sql1" || round.GetSqlHost() != tt.wantHost {
				t.Errorf("round: probe %q, peer %q, sql host %q; want sql1, mi1, %s", round.GetProbe().GetName(), round.GetPeer().GetName(), round.GetSqlHost(), tt.wantHost)
			}
			if got := round.GetStandIn().GetState(); got != tt.wantState || round.GetStandInReleased() != tt.released {
				t.Errorf("stand-in %v, released %v; want %v, %v", got, round.GetStandInReleased(), tt.wantState, tt.released)
			}
			attempts := tt.req.GetAttempts()
			if attempts == 0 {
				attempts = 3 // the default
			}
			var roles []string
			for _, ct := range round.GetTargets() {
				roles = append(roles, ct.GetRole())
				checkTarget(t, round.GetId(), ct, attempts)
			}
			if !slices.Equal(roles, tt.wantRoles) {
				t.Fatalf("roles %v, want %v", roles, tt.wantRoles)
			}
			if p3 := round.GetTargets()[0].GetTarget(); p3.GetKind() != tt.wantP3 {
				t.Errorf("p3 kind %v, want %v", p3.GetKind(), tt.wantP3)
			}
			if b := tt.req.GetBurstBytes(); b > 0 {
				e := round.GetTargets()[1].GetTarget()
				if e.GetEcho().GetBurstBytes() != b || e.GetEcho().GetBurstEvery() != attempts || e.GetTimeout().AsDuration() != 5*time.Second+5*time.Second {
					t.Errorf("echo_to_peer with a burst: %v; want %d bytes once in %d attempts, timeout %v", e, b, attempts, 10*time.Second)
				}
			}
			// Round results are no path state.
			if snap := s.store.Snapshot(time.Minute); len(snap.Paths) != 0 {
				t.Errorf("round results made paths: %+v", snap.Paths)
			}
			if got := testutil.ToFloat64(s.ingested); got != 0 {
				t.Errorf("results_ingested_total %v, want 0", got)
			}
			if tt.replay && testutil.ToFloat64(s.duplicates) == 0 {
				t.Error("replayed round results not counted as duplicates")
			}
			if got := counterValue(t, s, "linkmesh_coordinator_check_rounds_total", "outcome", "complete"); got != 1 {
				t.Errorf("check_rounds_total{outcome=complete} %v, want 1", got)
			}
			for _, p := range []*fakeProbe{sql, mi} {
				waitfor.Cond(t, 5*time.Second, p.info.GetName()+"'s plan without the round", func() bool {
					targets, standIns := p.roundTargets()
					return targets == 0 && standIns == 0
				})
			}
			if n := len(sql.latest().GetTargets()); n != 1 {
				t.Errorf("sql1's plan after the round: %d targets, want its 1 policy target", n)
			}
		})
	}
}

// checkTarget checks one CheckTarget: its id, source, and all its attempts'
// results in sequence order.
func checkTarget(t *testing.T, id string, ct *linkmeshv1.CheckTarget, attempts uint32) {
	t.Helper()
	tg := ct.GetTarget()
	wantSource := "mi1"
	if ct.GetRole() == vocab.RoleEchoToPeer {
		wantSource = "sql1"
	}
	if tg.GetId() != "check/"+id+"/"+ct.GetRole() || tg.GetRound() != id || tg.GetAttempts() != attempts || ct.GetSource() != wantSource {
		t.Errorf("%s: target %v from %s; want id check/%s/%s, %d attempts, from %s", ct.GetRole(), tg, ct.GetSource(), id, ct.GetRole(), attempts, wantSource)
	}
	if uint32(len(ct.GetResults())) != attempts {
		t.Errorf("%s: %d results, want %d", ct.GetRole(), len(ct.GetResults()), attempts)
	}
	if !slices.IsSortedFunc(ct.GetResults(), func(a, b *linkmeshv1.Result) int { return int(a.GetSeq()) - int(b.GetSeq()) }) {
		t.Errorf("%s: results not in sequence order", ct.GetRole())
	}
}
