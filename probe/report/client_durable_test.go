package report

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// fakeCoordinator counts in memory at once and acks durably only up to
// durable, which the test moves; it refuses every third Report as too fast.
type durableCoordinator struct {
	linkmeshv1.UnimplementedMeshServiceServer
	mu       sync.Mutex
	received uint64
	durable  uint64
	calls    int
	counted  map[uint64]int
}

func (f *durableCoordinator) Register(context.Context, *linkmeshv1.RegisterRequest) (*linkmeshv1.RegisterResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &linkmeshv1.RegisterResponse{AckedSeq: f.durable, ReceivedSeq: f.received}, nil
}

func (f *durableCoordinator) WatchPlan(_ *linkmeshv1.WatchPlanRequest, s grpc.ServerStreamingServer[linkmeshv1.WatchPlanResponse]) error {
	<-s.Context().Done()
	return nil
}

func (f *durableCoordinator) Report(_ context.Context, req *linkmeshv1.ReportRequest) (*linkmeshv1.ReportResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls%3 == 0 {
		st, _ := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(20 * time.Millisecond)})
		return nil, st.Err()
	}
	for _, r := range req.GetResults() {
		f.counted[r.GetSeq()]++
		f.received = max(f.received, r.GetSeq())
	}
	return &linkmeshv1.ReportResponse{AckedSeq: f.durable, ReceivedSeq: f.received}, nil
}

// TestClientKeepsUntilDurable: the client sends each result once, keeps it until
// the coordinator acks it durably, then lets the buffer forget it; rate-limit
// refusals are waited out without losing or repeating anything.
func TestClientKeepsUntilDurable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &durableCoordinator{counted: map[uint64]int{}}
	srv := grpc.NewServer()
	linkmeshv1.RegisterMeshServiceServer(srv, fake)
	go srv.Serve(lis)
	defer srv.Stop()

	buf := NewBuffer(1000)
	for range 1200 {
		buf.Record(result("mi1")) // 200 dropped: the oldest
	}
	buf.Join(lis.Addr().String(), 0)
	c := &Client{
		Address: lis.Addr().String(), Creds: insecure.NewCredentials(),
		Info: &linkmeshv1.ProbeInfo{Name: "sql01", Epoch: 1}, Buffer: buf,
		Plans: make(chan *linkmeshv1.Plan), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReplayRate: 5000,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	waitfor.Cond(t, 10*time.Second, "every result received", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.received == 1200
	})
	if n := buf.Len(); n != 1000 {
		t.Errorf("before any durable ack the buffer holds %d, want all 1000", n)
	}
	fake.mu.Lock()
	fake.durable = 1200
	fake.mu.Unlock()
	waitfor.Cond(t, 5*time.Second, "the buffer emptied after the durable ack", func() bool { return buf.Len() == 0 })
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for seq := uint64(201); seq <= 1200; seq++ {
		if fake.counted[seq] != 1 {
			t.Fatalf("seq %d sent %d times, want once", seq, fake.counted[seq])
		}
	}
	if len(fake.counted) != 1000 {
		t.Errorf("%d distinct seqs sent, want 1000", len(fake.counted))
	}
}

// TestClientSkipsPastCoordinatorCursor: a coordinator that has counted numbers
// the probe has not used yet in this epoch (its spool lost its end unnoticed)
// makes the probe number on above them, so its next results are counted rather
// than skipped as replays.
func TestClientSkipsPastCoordinatorCursor(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := &durableCoordinator{counted: map[uint64]int{}, received: 50, durable: 50}
	srv := grpc.NewServer()
	linkmeshv1.RegisterMeshServiceServer(srv, fake)
	go srv.Serve(lis)
	defer srv.Stop()

	buf := NewBuffer(100)
	for range 10 {
		buf.Record(result("mi1"))
	}
	buf.Join(lis.Addr().String(), 0)
	var logs logSink
	var mu sync.Mutex
	c := &Client{
		Address: lis.Addr().String(), Creds: insecure.NewCredentials(),
		Info: &linkmeshv1.ProbeInfo{Name: "sql01", Epoch: 1}, Buffer: buf,
		Plans: make(chan *linkmeshv1.Plan), Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitfor.Cond(t, 10*time.Second, "the probe past the coordinator's cursor", func() bool { return buf.LastSeq() >= 50 })
	buf.Record(result("mi1"))
	waitfor.Cond(t, 10*time.Second, "the next result counted", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return fake.counted[51] == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if n := logs.count("had not used yet"); n != 1 || !strings.Contains(logs.String(), "skipped=40") {
		t.Errorf("want one line saying 40 numbers were skipped, got %d:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
