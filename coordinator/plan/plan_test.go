package plan

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestRoundTargets: round targets and stand-ins reach a probe's plan
// even when the policy gives it nothing (here: a probe gossip says left, so
// the policy does not see it), come after the policy's targets outside
// limits.max_paths, bump the generation when added and removed, and leave
// nothing behind.
func TestRoundTargets(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("gossip: {disabled: true}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\nlimits: {max_paths: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits = cfg.Limits.OrDefault()
	store := pathstate.New(time.Now)
	for _, p := range []*linkmeshv1.ProbeInfo{
		{Name: "sql1", Site: "sql", ResponderAddress: "10.0.0.1:5023"},
		{Name: "mi1", Site: "mi", ResponderAddress: "10.0.0.2:5023"},
		{Name: "gone", Site: "mi", ResponderAddress: "10.0.0.3:5023"},
	} {
		store.Register(p)
	}
	store.SetMembers([]pathstate.Member{{Info: &linkmeshv1.ProbeInfo{Name: "gone", Site: "mi"}, State: pathstate.GossipLeft}})
	p := New(store, func() *config.Config { return cfg }, slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	defer p.Stop()

	type want struct {
		targets, standIns int
		bumped            bool
	}
	gens := map[string]uint64{}
	check := func(step string, wants map[string]want) {
		t.Helper()
		for name, w := range wants {
			plan, _, _, _ := p.Plan(name)
			if len(plan.GetTargets()) != w.targets || len(plan.GetStandIns()) != w.standIns || (plan.GetGeneration() != gens[name]) != w.bumped {
				t.Errorf("%s: %s's plan: %d targets, %d stand-ins, generation %d (was %d); want %d, %d, bumped %v",
					step, name, len(plan.GetTargets()), len(plan.GetStandIns()), plan.GetGeneration(), gens[name], w.targets, w.standIns, w.bumped)
			}
			gens[name] = plan.GetGeneration()
		}
	}
	check("policy only", map[string]want{"sql1": {1, 0, true}, "mi1": {0, 0, true}, "gone": {0, 0, false}}) // gone: no plan

	round := func(id, to string) *linkmeshv1.Target {
		return &linkmeshv1.Target{Id: "check/" + id + "/x", Kind: linkmeshv1.Kind_KIND_TCP, Host: to, Port: 5022, Name: "sql1", Site: "sql", Round: id, Attempts: 3}
	}
	p.AddRound(map[string][]*linkmeshv1.Target{"sql1": {round("chk-1", "a"), round("chk-1", "b")}, "gone": {round("chk-1", "c")}})
	if err := p.RequestStandIn(t.Context(), "gone", 5022, time.Minute); err != nil {
		t.Fatal(err)
	}
	check("round added", map[string]want{"sql1": {3, 0, true}, "mi1": {0, 0, false}, "gone": {1, 1, true}})
	if plan, _, _, _ := p.Plan("sql1"); plan.GetTargets()[0].GetRound() != "" || plan.GetTargets()[2].GetRound() != "chk-1" {
		t.Errorf("sql1's plan: %v; want the policy target first, then the round's", plan.GetTargets())
	}
	if n := p.leftOut.Load(); n != 0 {
		t.Errorf("targets left out: %d; round targets are beyond max_paths", n)
	}

	p.DropRound("chk-1")
	if !p.ReleaseStandIn("gone", 5022) {
		t.Error("ReleaseStandIn: no stand-in found")
	}
	if p.ReleaseStandIn("gone", 5022) {
		t.Error("ReleaseStandIn a second time: found one")
	}
	check("round dropped", map[string]want{"sql1": {1, 0, true}, "mi1": {0, 0, false}, "gone": {0, 0, true}})
	check("nothing changed", map[string]want{"sql1": {1, 0, false}, "mi1": {0, 0, false}, "gone": {0, 0, false}})
}
