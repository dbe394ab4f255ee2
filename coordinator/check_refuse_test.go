package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestCheckRoundRefused: a request that cannot run is refused at once with a
// status whose one-line message names the field or the probe at fault.
func TestCheckRoundRefused(t *testing.T) {
	s := runServerWith(t, baseConfig, Options{Insecure: true, CheckTimes: fastChecks}, nil)
	api := dial(t, s.GRPCAddr().String())
	startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", nil)
	startProbe(t, s, api, "mi1", "mi", "127.0.0.2:5023", nil)
	startProbe(t, s, api, "bare", "lab", "", nil) // connected, no responder
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "sql2", Site: "sql", Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
	type req = linkmeshv1.RunCheckRequest
	tests := []struct {
		name string
		req  *req
		code codes.Code
		want string
	}{
		{"no probe", &req{}, codes.InvalidArgument, "probe: required"},
		{"probe name with a newline", &req{Probe: "sql1\n"}, codes.InvalidArgument, `probe "sql1\n": not a probe name`},
		{"peer name with a space", &req{Probe: "sql1", Peer: "mi 1"}, codes.InvalidArgument, `peer "mi 1": not a probe name`},
		{"port above 65535", &req{Probe: "sql1", SqlPort: 70000}, codes.InvalidArgument, "sql_port 70000: not a TCP port"},
		{"too many attempts", &req{Probe: "sql1", Attempts: 11}, codes.InvalidArgument, "attempts 11: at most 10"},
		{"timeout over a minute", &req{Probe: "sql1", Timeout: durationpb.New(61 * time.Second)}, codes.InvalidArgument, "timeout 1m1s: at most 1m0s"},
		{"negative timeout", &req{Probe: "sql1", Timeout: durationpb.New(-time.Second)}, codes.InvalidArgument, "timeout: not a valid duration"},
		{"tiny timeout", &req{Probe: "sql1", Timeout: durationpb.New(time.Millisecond)}, codes.InvalidArgument, "timeout 1ms: at least 100ms"},
		{"burst over 1 GiB", &req{Probe: "sql1", BurstBytes: 1<<30 + 1}, codes.InvalidArgument, "burst_bytes 1073741825: at most 1 GiB"},
		{"sql host with a space", &req{Probe: "sql1", SqlHost: "sql 1"}, codes.InvalidArgument, `sql_host "sql 1": not an IP address or DNS name`},
		{"sql host label too long", &req{Probe: "sql1", SqlHost: strings.Repeat("a", 64) + ".example"}, codes.InvalidArgument, "sql_host"},
		{"unknown probe", &req{Probe: "ghost"}, codes.InvalidArgument, `probe "ghost": no probe of that name has registered`},
		{"unknown peer", &req{Probe: "sql1", Peer: "ghost"}, codes.InvalidArgument, `peer "ghost": no probe of that name has registered`},
		{"peer is the probe", &req{Probe: "sql1", Peer: "sql1"}, codes.InvalidArgument, `peer "sql1": the same probe as probe`},
		{"peer of the same site", &req{Probe: "sql1", Peer: "sql2"}, codes.InvalidArgument, `peer "sql2": of site "sql" like probe "sql1"`},
		{"probe not connected", &req{Probe: "sql2"}, codes.FailedPrecondition, "probe sql2 is not connected to this coordinator (no open plan stream)"},
		{"sql port not in check_rounds.sql_ports", &req{Probe: "sql1", SqlPort: 5099}, codes.InvalidArgument, "sql_port 5099: not one of the coordinator's check_rounds.sql_ports (5022)"},
		{"burst over check_rounds.max_burst_bytes", &req{Probe: "sql1", BurstBytes: 64<<20 + 1}, codes.InvalidArgument, "burst_bytes 67108865: at most 67108864 (the coordinator's check_rounds.max_burst_bytes)"},
		{"foreign sql host", &req{Probe: "sql1", Peer: "mi1", SqlHost: "198.51.100.7"}, codes.PermissionDenied, `sql_host "198.51.100.7": not an address of probe sql1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCheck(ctx, api, tt.req)
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Errorf("got %v, want %v with %q", err, tt.code, tt.want)
			}
		})
	}
	if got, want := counterValue(t, s, "linkmesh_coordinator_check_rounds_total", "outcome", "refused"), float64(len(tests)); got != want {
		t.Errorf("check_rounds_total{outcome=refused} %v, want %v", got, want)
	}
}

// TestCheckPeerPick: without --peer the round takes the one connected probe
// of another site, and refuses when there is none or several.
func TestCheckPeerPick(t *testing.T) {
	tests := []struct {
		name  string
		peers []string // connected probes of site mi
		code  codes.Code
		want  string
	}{
		{"none", nil, codes.FailedPrecondition, "no probe of another site is connected to this coordinator: start a probe in the MI's VNet (--site mi) with --coordinator 127.0.0.1:"},
		{"several", []string{"mi2", "mi1"}, codes.FailedPrecondition, "give --peer one of: mi1, mi2"},
		{"one", []string{"mi1"}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := runServerWith(t, baseConfig, Options{Insecure: true, CheckTimes: fastChecks}, nil)
			api := dial(t, s.GRPCAddr().String())
			startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", nil)
			startProbe(t, s, api, "sql2", "sql", "127.0.0.3:5023", nil) // same site: never a peer
			for _, p := range tt.peers {
				startProbe(t, s, api, p, "mi", "127.0.0.2:5023", nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, round, err := runCheck(ctx, api, &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 1})
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.want) {
				t.Fatalf("got %v, want %v with %q", err, tt.code, tt.want)
			}
			if tt.code == codes.OK && round.GetPeer().GetName() != tt.peers[0] {
				t.Errorf("peer %q, want %q", round.GetPeer().GetName(), tt.peers[0])
			}
		})
	}
}

// TestCheckRoundBusyAndCanceled: while a round runs, another round touching
// either probe is refused (Aborted); when the client goes away the round ends,
// its targets and stand-in leave the plans and the probes are free again.
func TestCheckRoundBusyAndCanceled(t *testing.T) {
	s := runServerWith(t, baseConfig, Options{Insecure: true, CheckTimes: fastChecks}, nil)
	api := dial(t, s.GRPCAddr().String())
	silent := func(p *fakeProbe) { p.answers = func(*linkmeshv1.Target) int { return 0 } }
	sql := startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", func(p *fakeProbe) {
		silent(p)
		p.standIn = linkmeshv1.StandInState_STAND_IN_STATE_SERVING
	})
	startProbe(t, s, api, "sql2", "sql", "127.0.0.3:5023", silent)
	mi := startProbe(t, s, api, "mi1", "mi", "127.0.0.2:5023", silent)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, stop := context.WithCancel(ctx)
	stream, err := api.RunCheck(first, &linkmeshv1.RunCheckRequest{Probe: "sql1", StandIn: true})
	if err != nil {
		t.Fatal(err)
	}
	recv := make(chan error, 1)
	go func() { // owned by the test; ends when the stream does
		for {
			if _, err := stream.Recv(); err != nil {
				recv <- err
				return
			}
		}
	}()
	waitfor.Cond(t, 5*time.Second, "the round's targets in both plans", func() bool {
		a, standIns := sql.roundTargets()
		b, _ := mi.roundTargets()
		return a == 1 && b == 2 && standIns == 1
	})
	for _, req := range []*linkmeshv1.RunCheckRequest{{Probe: "sql1"}, {Probe: "sql2", Peer: "mi1"}} {
		_, _, err := runCheck(ctx, api, req)
		busy := "sql1"
		if req.GetProbe() == "sql2" {
			busy = "mi1"
		}
		if want := "a check round is running on " + busy + " (round chk-"; status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run again when it ends") {
			t.Errorf("a second round for %s: got %v, want Aborted with %q", req.GetProbe(), err, want)
		}
	}

	stop()
	if err := <-recv; status.Code(err) != codes.Canceled {
		t.Errorf("the canceled round's stream ended with %v, want Canceled", err)
	}
	waitfor.Cond(t, 5*time.Second, "the canceled round's targets and stand-in gone from the plans", func() bool {
		a, standIns := sql.roundTargets()
		b, _ := mi.roundTargets()
		return a == 0 && b == 0 && standIns == 0
	})
	waitfor.Cond(t, 5*time.Second, "the probes free again", func() bool {
		return s.rounds.Running() == 0
	})
	if got := counterValue(t, s, "linkmesh_coordinator_check_rounds_total", "outcome", "partial"); got != 1 {
		t.Errorf("check_rounds_total{outcome=partial} %v, want 1", got)
	}
}

// TestCheckRoundDeadline: when results stay away, the round ends at its
// deadline with what arrived, says which targets are short, and cleans up.
func TestCheckRoundDeadline(t *testing.T) {
	times := fastChecks
	times.Slack = 500 * time.Millisecond
	s := runServerWith(t, baseConfig, Options{Insecure: true, CheckTimes: times}, nil)
	api := dial(t, s.GRPCAddr().String())
	sql := startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", nil)
	mi := startProbe(t, s, api, "mi1", "mi", "127.0.0.2:5023", func(p *fakeProbe) {
		p.answers = func(tg *linkmeshv1.Target) int {
			return map[string]int{vocab.RoleP3: 1}[strings.TrimPrefix(tg.GetId(), "check/"+tg.GetRound()+"/")]
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	progress, round, err := runCheck(ctx, api, &linkmeshv1.RunCheckRequest{Probe: "sql1", Attempts: 2, Timeout: durationpb.New(100 * time.Millisecond)})
	if err != nil {
		t.Fatalf("RunCheck: %v", err)
	}
	want := map[string]int{vocab.RoleP3: 1, vocab.RoleEchoToPeer: 2, vocab.RoleEchoFromPeer: 0}
	for _, ct := range round.GetTargets() {
		if n := len(ct.GetResults()); n != want[ct.GetRole()] {
			t.Errorf("%s: %d results, want %d", ct.GetRole(), n, want[ct.GetRole()])
		}
	}
	last := progress[len(progress)-1]
	for _, w := range []string{"passed before every result arrived; the round is partial: p3 1/2 (mi1), echo_from_peer 0/2 (mi1)", "another coordinator's plan can displace them"} {
		if !strings.Contains(last, w) {
			t.Errorf("last progress line %q lacks %q", last, w)
		}
	}
	for _, p := range []*fakeProbe{sql, mi} {
		waitfor.Cond(t, 5*time.Second, p.info.GetName()+"'s plan without the round", func() bool {
			n, _ := p.roundTargets()
			return n == 0
		})
	}
	if got := counterValue(t, s, "linkmesh_coordinator_check_rounds_total", "outcome", "partial"); got != 1 {
		t.Errorf("check_rounds_total{outcome=partial} %v, want 1", got)
	}
}
