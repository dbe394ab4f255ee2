package plan

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestStandInLeaseRenewed: a stand-in request goes out with its
// lease, and the coordinator renews it every third of the lease (a new
// renewal, a new plan generation) while the requester's context lasts; when
// that context ends (the round ended) the stand-in leaves the plan, and when
// the coordinator stops the renewals stop.
func TestStandInLeaseRenewed(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("gossip: {disabled: true}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits = cfg.Limits.OrDefault()
	synctest.Test(t, func(t *testing.T) {
		store := pathstate.New(time.Now)
		store.Register(&linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", ResponderAddress: "10.0.0.1:5023"})
		store.Register(&linkmeshv1.ProbeInfo{Name: "sql2", Site: "sql", ResponderAddress: "10.0.0.3:5023"})
		p := New(store, func() *config.Config { return cfg }, slog.New(slog.DiscardHandler), 12*time.Second) // not the default: New must pass it on
		defer p.Stop()
		standIn := func(probe string) (*linkmeshv1.StandIn, uint64) {
			plan, _, _, _ := p.Plan(probe)
			if len(plan.GetStandIns()) != 1 {
				return nil, plan.GetGeneration()
			}
			return plan.GetStandIns()[0], plan.GetGeneration()
		}

		round, endRound := context.WithCancel(t.Context())
		if err := p.RequestStandIn(round, "sql1", 5022, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		si, gen := standIn("sql1")
		if si.GetLease().AsDuration() != 12*time.Second || si.GetRenewal() != 0 {
			t.Fatalf("first plan's stand-in %v, want lease 12s, renewal 0", si)
		}
		for want := uint64(1); want <= 6; want++ {
			time.Sleep(4 * time.Second) // a third of the lease
			synctest.Wait()
			got, g := standIn("sql1")
			if got.GetRenewal() != want || g == gen {
				t.Fatalf("%v in: stand-in %v, generation %d (was %d); want renewal %d in a new plan", time.Duration(want)*4*time.Second, got, g, gen, want)
			}
			gen = g
		}
		endRound()
		synctest.Wait()
		if got, _ := standIn("sql1"); got != nil {
			t.Fatalf("after the round's context ended: stand-in %v still in the plan", got)
		}

		// The coordinator stops: nothing renews the stand-in any more.
		if err := p.RequestStandIn(t.Context(), "sql2", 5022, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		before, _ := standIn("sql2")
		p.Stop()
		time.Sleep(time.Minute)
		synctest.Wait()
		if after, _ := standIn("sql2"); after.GetRenewal() != before.GetRenewal() {
			t.Errorf("renewal %d after the coordinator stopped, want %d", after.GetRenewal(), before.GetRenewal())
		}
	})
}
