package check

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The round's shapes below are what the coordinator sends (CheckRound with
// its targets and the probes' real Result fields).

func result(code linkmeshv1.Code, f func(*linkmeshv1.Result)) *linkmeshv1.Result {
	r := &linkmeshv1.Result{Code: code, Rtt: durationpb.New(2 * time.Millisecond), Detail: "detail of " + code.String()}
	if code != linkmeshv1.Code_CODE_OK {
		r.Rtt = nil
	}
	if f != nil {
		f(r)
	}
	return r
}

func times(n int, r *linkmeshv1.Result) []*linkmeshv1.Result {
	out := make([]*linkmeshv1.Result, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func mtu(m uint32, hole bool) func(*linkmeshv1.Result) {
	return func(r *linkmeshv1.Result) { r.MtuBytes, r.MtuBlackhole = m, hole }
}

// goodRound is a round where everything passed: P3 through a stand-in, D2
// resolving to the probe's address, full-size packets both ways, a burst.
func goodRound() *linkmeshv1.CheckRound {
	ok := result(linkmeshv1.Code_CODE_OK, nil)
	return &linkmeshv1.CheckRound{
		Id:              "chk-1",
		Probe:           &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", ResponderAddress: "198.18.1.2:5023"},
		Peer:            &linkmeshv1.ProbeInfo{Name: "mi1", Site: "mi", ResponderAddress: "198.18.2.2:5023"},
		SqlHost:         "sql1.corp.example",
		SqlPort:         5022,
		StandIn:         &linkmeshv1.StandInStatus{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING},
		StandInReleased: true,
		Targets: []*linkmeshv1.CheckTarget{
			{Role: vocab.RoleP3, Source: "mi1", Target: &linkmeshv1.Target{Kind: linkmeshv1.Kind_KIND_ECHO, Host: "sql1.corp.example", Port: 5022}, Results: times(3, ok)},
			{Role: vocab.RoleD2, Source: "mi1", Target: &linkmeshv1.Target{Kind: linkmeshv1.Kind_KIND_DNS, Host: "sql1.corp.example"},
				Results: times(3, result(linkmeshv1.Code_CODE_OK, func(r *linkmeshv1.Result) { r.Addresses = []string{"198.18.1.2"} }))},
			{Role: vocab.RoleEchoToPeer, Source: "sql1", Target: &linkmeshv1.Target{Kind: linkmeshv1.Kind_KIND_ECHO, Host: "198.18.2.2", Port: 5023},
				Results: times(3, result(linkmeshv1.Code_CODE_OK, func(r *linkmeshv1.Result) { r.MtuBytes, r.ThroughputBitsPerSecond = 1500, 190e6 }))},
			{Role: vocab.RoleEchoFromPeer, Source: "mi1", Target: &linkmeshv1.Target{Kind: linkmeshv1.Kind_KIND_ECHO, Host: "198.18.1.2", Port: 5023},
				Results: times(3, result(linkmeshv1.Code_CODE_OK, mtu(1500, false)))},
		},
	}
}

// runCoordinated runs the coordinated checks against a loopback "MI" and
// endpoint with round as the coordinator's answer, and returns the rows by ID.
func runCoordinated(t *testing.T, round func(*Round) (*linkmeshv1.CheckRound, error), epListening bool) (map[string]Row, *Round) {
	t.Helper()
	cfg := loopbackConfig(t, listen(t))
	cfg.MISubnet = netip.MustParsePrefix("198.18.2.0/24")
	ep := closedPort(t)
	if epListening {
		ep = listen(t)
	}
	cfg.SQLEndpoint = net.JoinHostPort("127.0.0.1", itoa(ep))
	var r *Round
	checks, r := CoordinatedChecks(cfg, Coordinated{
		Round:        func(context.Context, func(string)) (*linkmeshv1.CheckRound, error) { return round(r) },
		StandIn:      true,
		DatabaseSize: 100e9,
	})
	rows := map[string]Row{}
	for _, row := range Run(t.Context(), checks, nil) {
		rows[row.ID] = row
	}
	return rows, r
}

func TestCoordinatedAllGood(t *testing.T) {
	rows, r := runCoordinated(t, func(*Round) (*linkmeshv1.CheckRound, error) { return goodRound(), nil }, false)
	for id, want := range map[string]Status{"P3": Pass, "D2": Pass, "MTU": Pass, "BW": Pass, StandInID: Warn, "EP": Fail} {
		if rows[id].Status != want {
			t.Errorf("%s: %s (%s), want %s", id, rows[id].Status, rows[id].Reason, want)
		}
	}
	if !strings.Contains(rows["P3"].Reason, "authenticated hello") || !strings.Contains(rows["P3"].Measured, "3/3 echo through the stand-in") {
		t.Errorf("P3 through the stand-in: %+v", rows["P3"].Outcome)
	}
	if si := rows[StandInID]; si.Fix != nil || !strings.Contains(si.Reason, "EP's fix says how") {
		t.Errorf("stand-in used while EP failed: EP carries the fix, the row points to it: %+v", si.Outcome)
	}
	if got := r.Throughput(); got != 190e6 {
		t.Errorf("throughput %v, want 190e6", got)
	}
	if !strings.Contains(rows["BW"].Reason, "100 GB at 190 Mbit/s takes about 1.2 h") {
		t.Errorf("BW reason %q, want the seeding estimate", rows["BW"].Reason)
	}
}

func TestCoordinatedRows(t *testing.T) {
	tests := []struct {
		name   string
		change func(*linkmeshv1.CheckRound)
		ep     bool
		id     string
		want   Status
		result string
		has    []string // in the reason, measured or fix
	}{
		{name: "P3 dropped", id: "P3", want: Fail, result: "timeout",
			change: func(rd *linkmeshv1.CheckRound) {
				rd.SqlHost = "198.18.1.2"
				rd.Targets[0].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
			},
			has: []string{"nothing answered", `New-NetFirewallRule -DisplayName "MI link from MI (TCP 5022)" -Direction Inbound -Protocol TCP -LocalPort 5022 -RemoteAddress 198.18.2.0/24`,
				"--direction Outbound --access Allow --protocol Tcp --source-address-prefixes 198.18.2.0/24 --destination-address-prefixes 198.18.1.2/32 --destination-port-ranges 5022"}},
		{name: "P3 flaky", id: "P3", want: Fail, result: "timeout",
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[0].Results[1] = result(linkmeshv1.Code_CODE_TIMEOUT, nil)
			},
			has: []string{"2 of 3 attempts got through", "timeout on 1 of 3 attempts"}},
		{name: "P3 mismatch", id: "P3", want: Fail, result: "mismatch",
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[0].Results = times(3, result(linkmeshv1.Code_CODE_MISMATCH, nil))
			},
			has: []string{"not the stand-in", "answers TCP 5022 itself"}},
		{name: "P3 refused though the port is taken", id: "P3", want: Fail, result: "refused", ep: true,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.StandIn.State = linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN
				rd.Targets[0].Target.Kind = linkmeshv1.Kind_KIND_TCP
				rd.Targets[0].Results = times(3, result(linkmeshv1.Code_CODE_REFUSED, nil))
			},
			has: []string{"LISTENER_IP", "--sql-host"}},
		{name: "P3 not run", id: "P3", want: Fail,
			change: func(rd *linkmeshv1.CheckRound) { rd.Targets[0].Results = nil },
			has:    []string{"mi1 reported no result for P3", "chk-1"}},
		{name: "port taken by the endpoint", id: StandInID, want: Pass, ep: true,
			change: func(rd *linkmeshv1.CheckRound) { rd.StandIn.State = linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN },
			has:    []string{"stand-in not used: port 5022 is in use on sql1 by SQL Server's endpoint", "not used: port taken"}},
		{name: "port taken by something else", id: StandInID, want: Warn, ep: false,
			change: func(rd *linkmeshv1.CheckRound) { rd.StandIn.State = linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN },
			has:    []string{"not SQL Server's endpoint", "Get-NetTCPConnection"}},
		{name: "stand-in not released", id: StandInID, want: Warn,
			change: func(rd *linkmeshv1.CheckRound) { rd.StandInReleased = false },
			has:    []string{"had not yet reported releasing it"}},
		{name: "no stand-in answer", id: StandInID, want: Warn,
			change: func(rd *linkmeshv1.CheckRound) { rd.StandIn = nil },
			has:    []string{"did not report on the stand-in"}},
		{name: "D2 by address", id: "D2", want: Skip,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.SqlHost = "198.18.1.2"
				rd.Targets = append(rd.Targets[:1], rd.Targets[2:]...)
			},
			has: []string{"given by address (198.18.1.2)"}},
		{name: "D2 fails", id: "D2", want: Fail, result: "dns",
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[1].Results = times(3, result(linkmeshv1.Code_CODE_DNS, nil))
			},
			has: []string{"could not resolve sql1.corp.example", "az network private-dns record-set a add-record", "--record-set-name sql1 "}},
		{name: "D2 elsewhere", id: "D2", want: Warn, result: "ok",
			change: func(rd *linkmeshv1.CheckRound) { rd.Targets[1].Results[0].Addresses = []string{"10.9.9.9"} },
			has:    []string{"but not to 198.18.1.2"}},
		{name: "MTU black hole one way", id: "MTU", want: Fail,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[3].Results = times(3, result(linkmeshv1.Code_CODE_OK, mtu(1400, true)))
			},
			has: []string{"mi1 → sql1: black hole above 1400 bytes", "sql1 → mi1: 1500 bytes", "--set-mss 1350", "path-MTU black hole"}},
		{name: "MTU not measurable", id: "MTU", want: Skip,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[2].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
				rd.Targets[3].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
			},
			has: []string{"could not measure the path MTU", "responder port must be open"}},
		{name: "MTU measured one way only", id: "MTU", want: Skip,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[3].Results = times(3, result(linkmeshv1.Code_CODE_TIMEOUT, nil))
			},
			has: []string{"no black hole one way, but could not measure the other", "mi1 → sql1: not measured"}},
		{name: "slow seeding", id: "BW", want: Warn,
			change: func(rd *linkmeshv1.CheckRound) {
				for _, r := range rd.Targets[2].Results {
					r.ThroughputBitsPerSecond = 1e6
				}
			},
			has: []string{"more than 6 days", "DBCC TRACEON (9567, -1);"}},
		{name: "burst measured nothing", id: "BW", want: Warn,
			change: func(rd *linkmeshv1.CheckRound) {
				rd.Targets[2].Results = times(3, result(linkmeshv1.Code_CODE_OK, func(r *linkmeshv1.Result) {
					r.Detail = "throughput burst skipped: full-size packets do not cross"
				}))
			},
			has: []string{"measured nothing: throughput burst skipped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _ := runCoordinated(t, func(*Round) (*linkmeshv1.CheckRound, error) {
				rd := goodRound()
				tt.change(rd)
				return rd, nil
			}, tt.ep)
			row := rows[tt.id]
			if row.Status != tt.want || row.Result != tt.result {
				t.Fatalf("%s: %s %q (%s), want %s %q", tt.id, row.Status, row.Result, row.Reason, tt.want, tt.result)
			}
			if row.Status == Fail && row.Fix == nil {
				t.Errorf("%s fails without a fix", tt.id)
			}
			text := row.Reason + "\n" + row.Measured + "\n" + fixText(row.Fix)
			for _, h := range tt.has {
				if !strings.Contains(text, h) {
					t.Errorf("%s: %q missing from:\n%s", tt.id, h, text)
				}
			}
		})
	}
}

// TestCoordinatedRoundAfterEP: the round (which may put a stand-in on the
// endpoint's port) starts only after EP has connected, and runs once for
// all its rows.
func TestCoordinatedRoundAfterEP(t *testing.T) {
	var calls atomic.Int32
	var epSeen Status
	rows, _ := runCoordinated(t, func(r *Round) (*linkmeshv1.CheckRound, error) {
		calls.Add(1)
		epSeen = r.ep.Status
		return goodRound(), nil
	}, true)
	if calls.Load() != 1 {
		t.Errorf("the round ran %d times, want once", calls.Load())
	}
	if epSeen != Pass || rows["EP"].Status != Pass {
		t.Errorf("EP when the round started: %q, want its result (pass) already", epSeen)
	}
}

// TestCoordinatedRoundError: when the coordinator refuses the round, its rows
// are skipped with the reason, and the error is kept for the exit code.
func TestCoordinatedRoundError(t *testing.T) {
	rows, r := runCoordinated(t, func(*Round) (*linkmeshv1.CheckRound, error) {
		return nil, errors.New("no probe of another site is connected")
	}, true)
	for _, id := range []string{"P3", StandInID, "D2", "MTU", "BW"} {
		if rows[id].Status != Skip || !strings.Contains(rows[id].Reason, "no probe of another site is connected") {
			t.Errorf("%s: %s %q, want skip with the coordinator's reason", id, rows[id].Status, rows[id].Reason)
		}
	}
	if rows["P1"].Status != Pass || r.Err() == nil {
		t.Errorf("P1 %s, round error %v: want the standalone rows to run and the error kept", rows["P1"].Status, r.Err())
	}
}

// TestCoordinatedOrder: the stand-in row follows P3, and the peer rows keep
// their places.
func TestCoordinatedOrder(t *testing.T) {
	cfg := loopbackConfig(t, 5022)
	cfg.SQLEndpoint = "127.0.0.1:5022"
	checks, _ := CoordinatedChecks(cfg, Coordinated{StandIn: true})
	var ids []string
	for _, c := range checks {
		ids = append(ids, c.ID)
	}
	if got, want := strings.Join(ids, " "), "D1 P1 P2 EP P3 standin D2 MTU BW"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	for _, c := range checks {
		if c.ID == "BW" && (c.Run != nil || !strings.Contains(c.Skip, "--database-size")) {
			t.Errorf("BW without --database-size: want skipped with the reason, got %+v", c)
		}
	}
}

// TestIncompleteReport: a report whose round did not run is no verdict: exit
// code 2 in every format, and the reason at the verdict's place.
func TestIncompleteReport(t *testing.T) {
	r := sampleReport()
	r.Mode, r.Incomplete = "coordinated", "the round through coordinator c1:7000 did not run: no probe of another site is connected"
	if r.Ready() || r.ExitCode() != 2 {
		t.Errorf("Ready %v, ExitCode %d: want false, 2", r.Ready(), r.ExitCode())
	}
	var js, table, junit strings.Builder
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJUnit(&junit, r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		js.String():    {`"exit_code": 2`, `"ready": false`, `"incomplete": "the round through coordinator c1:7000 did not run`},
		table.String(): {"INCOMPLETE: the round through coordinator c1:7000 did not run: no probe of another site is connected."},
		junit.String(): {`name="incomplete" value="the round through coordinator c1:7000`},
	} {
		for _, w := range want {
			if !strings.Contains(name, w) {
				t.Errorf("%q missing from:\n%s", w, name)
			}
		}
	}
}
