package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startServer runs a coordinator on loopback and returns a client to it.
func startServer(t *testing.T) linkmeshv1.MeshServiceClient {
	t.Helper()
	s := runServer(t, baseConfig, nil)
	return dial(t, s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
}

// TestBadRequestsGetAStatus: oversized and malformed messages are answered with a
// gRPC status that says what is wrong; the coordinator keeps serving.
func TestBadRequestsGetAStatus(t *testing.T) {
	api := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	good := &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", Epoch: 7, ResponderAddress: "127.0.0.1:5023"}
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: good}); err != nil {
		t.Fatalf("a good Register failed: %v", err)
	}
	result := func(mod func(*linkmeshv1.Result)) *linkmeshv1.Result {
		r := &linkmeshv1.Result{Seq: 1, Time: timestamppb.Now(), Kind: linkmeshv1.Kind_KIND_TCP, Target: "mi1", TargetSite: "mi", Port: 5023, Code: linkmeshv1.Code_CODE_OK}
		if mod != nil {
			mod(r)
		}
		return r
	}
	huge := strings.Repeat("x", 5<<20)
	tests := []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"oversized message", func() error {
			_, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "a", Site: "b", Version: huge}})
			return err
		}, codes.ResourceExhausted, "larger than max"},
		{"register without a probe", func() error {
			_, err := api.Register(ctx, &linkmeshv1.RegisterRequest{})
			return err
		}, codes.InvalidArgument, "probe: missing"},
		{"label value with a newline", func() error {
			_, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "a\nb", Site: "sql"}})
			return err
		}, codes.InvalidArgument, "probe.name"},
		{"sequence jump", func() error {
			_, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 7, Results: []*linkmeshv1.Result{result(func(r *linkmeshv1.Result) { r.Seq = 1 << 62 })}})
			return err
		}, codes.InvalidArgument, "jump too far ahead"},
		{"batch too large", func() error {
			rs := make([]*linkmeshv1.Result, 1001)
			for i := range rs {
				rs[i] = result(func(r *linkmeshv1.Result) { r.Seq = uint64(i + 1) })
			}
			_, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 7, Results: rs})
			return err
		}, codes.InvalidArgument, "at most 1000"},
		{"plan stream before registering", func() error {
			st, err := api.WatchPlan(ctx, &linkmeshv1.WatchPlanRequest{Probe: "stranger"})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, codes.FailedPrecondition, "call Register first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want code %v with %q", err, tt.code, tt.want)
			}
		})
	}
	// Still serving, and nothing bad was counted.
	resp, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 7, Results: []*linkmeshv1.Result{result(nil)}})
	if err != nil || resp.GetAckedSeq() != 1 {
		t.Fatalf("a good report after the bad ones: %v, acked %d; want acked 1", err, resp.GetAckedSeq())
	}
	// A report from a probe the coordinator does not know asks it to register.
	resp, err = api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "ghost", Epoch: 1})
	if err != nil || !resp.GetReregister() {
		t.Fatalf("report from an unknown probe: %v reregister=%v, want reregister", err, resp.GetReregister())
	}
}
