package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestForgetListOnReload: a reload with `forget: [names]` forgets a stopped
// probe at once with its paths; a listed probe that still holds its plan
// stream open stays.
func TestForgetListOnReload(t *testing.T) {
	s := runServer(t, baseConfig, nil)
	api := dial(t, s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	startProbe(t, s, api, "live1", "mi", "127.0.0.1:5023", nil) // plan stream open
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "old1", Site: "sql", Epoch: 1, ResponderAddress: "127.0.0.1:5024"}}); err != nil {
		t.Fatal(err)
	}
	r := &linkmeshv1.Result{Seq: 1, Time: timestamppb.Now(), Kind: linkmeshv1.Kind_KIND_TCP, Target: "live1", TargetSite: "mi", Port: 5023, Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond)}
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "old1", Epoch: 1, Results: []*linkmeshv1.Result{r}}); err != nil {
		t.Fatal(err)
	}
	if len(s.store.Snapshot(time.Minute).Paths) != 1 {
		t.Fatal("old1's path was not counted")
	}
	waitfor.Cond(t, 5*time.Second, "live1's plan stream open", func() bool {
		p, ok := s.store.Lookup("live1")
		return ok && p.Streams > 0
	})
	cfg, err := config.Parse("test.yaml", []byte(baseConfig+"forget: [old1, live1, never-seen]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if s.store.Known("old1") {
		t.Error("old1 is still known after a reload that lists it in forget")
	}
	if n := len(s.store.Snapshot(time.Minute).Paths); n != 0 {
		t.Errorf("%d paths left after forgetting old1; want 0", n)
	}
	if !s.store.Known("live1") {
		t.Error("live1, running with its plan stream open, was forgotten")
	}
}
