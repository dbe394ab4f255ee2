package probe

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// countAccepts accepts and closes connections on a loopback port until the
// test ends, counting them.
func countAccepts(t *testing.T) (port uint32, n *atomic.Int64) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n = &atomic.Int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { lis.Close(); <-done })
	return uint32(lis.Addr().(*net.TCPAddr).Port), n
}

// TestPlanCacheDropsRoundTargets: the targets of a check round (Target.round,
// bounded attempts) and the stand-ins never enter the plan cache, and a cache
// that holds them (written by an older probe) gives them up on reading: a
// probe restarted with no coordinator probes its standing targets from the
// cache and never the round's.
func TestPlanCacheDropsRoundTargets(t *testing.T) {
	standingPort, standingHits := countAccepts(t)
	roundPort, roundHits := countAccepts(t)
	target := func(id string, port uint32) *linkmeshv1.Target {
		return &linkmeshv1.Target{Id: id, Kind: linkmeshv1.Kind_KIND_TCP, Host: "127.0.0.1", Port: port, Name: "t", Site: "mi",
			Interval: durationpb.New(100 * time.Millisecond), Timeout: durationpb.New(time.Second)}
	}
	round := target("check/chk-1/p3", roundPort)
	round.Round, round.Attempts = "chk-1", 3
	bounded := target("bounded", roundPort)
	bounded.Attempts = 2
	plan := &linkmeshv1.Plan{Generation: 7, Targets: []*linkmeshv1.Target{target("standing", standingPort), round, bounded},
		StandIns: []*linkmeshv1.StandIn{{Port: 5022, MaxDuration: durationpb.New(time.Minute)}}}

	saved := filepath.Join(t.TempDir(), "saved.pb")
	if err := savePlan(saved, plan); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk linkmeshv1.Plan
	if err := proto.Unmarshal(data, &onDisk); err != nil {
		t.Fatal(err)
	}
	if len(onDisk.GetTargets()) != 1 || onDisk.GetTargets()[0].GetId() != "standing" || len(onDisk.GetStandIns()) != 0 || onDisk.GetGeneration() != 7 {
		t.Errorf("cached plan %v; want generation 7 with the standing target only", &onDisk)
	}
	if len(plan.GetTargets()) != 3 || len(plan.GetStandIns()) != 1 {
		t.Errorf("savePlan changed the plan it was given: %v", plan)
	}

	// A cache with the round in it, as an older probe wrote it.
	old := filepath.Join(t.TempDir(), "old.pb")
	data, err = proto.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, data, 0o600); err != nil {
		t.Fatal(err)
	}
	nowhere, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	coord := nowhere.Addr().String()
	nowhere.Close()
	a, err := New(Config{Name: "sql1", Site: "sql", Coordinators: []string{coord}, Creds: insecure.NewCredentials(),
		BufferSize: 1000, PlanCache: old}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitfor.Poll(10*time.Second, func() bool { return standingHits.Load() >= 10 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := standingHits.Load(); n < 10 {
		t.Errorf("%d connections from the cached standing target, want ≥ 10", n)
	}
	// Bounded targets start at once: by now they would have run.
	if n := roundHits.Load(); n != 0 {
		t.Errorf("the restarted probe replayed the round from its cache: %d connections to the round's target", n)
	}
	if _, err := os.Stat(old); err != nil {
		t.Errorf("plan cache: %v", err)
	}
}
