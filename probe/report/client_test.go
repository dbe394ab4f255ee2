package report

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// coordinator is a fake coordinator: it counts each (epoch, seq) once, as the
// real one does, and can be told to fail reports or ask for registration.
type coordinator struct {
	linkmeshv1.UnimplementedMeshServiceServer

	mu         sync.Mutex
	epoch      uint64
	acked      uint64
	seqs       []uint64 // every seq counted, in arrival order
	duplicates int
	registers  int
	reports    int
	down       bool  // Report answers Unavailable
	reregister int   // answer this many reports with Reregister
	refuse     error // Register answers it
	plan       *linkmeshv1.Plan
	onReport   func(*linkmeshv1.ReportRequest) // called first in Report, unlocked
}

func (c *coordinator) Register(_ context.Context, req *linkmeshv1.RegisterRequest) (*linkmeshv1.RegisterResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registers++
	if c.refuse != nil {
		return nil, c.refuse
	}
	if req.GetProbe().GetEpoch() != c.epoch {
		c.epoch, c.acked = req.GetProbe().GetEpoch(), 0
	}
	return &linkmeshv1.RegisterResponse{Coordinator: "fake", AckedSeq: c.acked}, nil
}

func (c *coordinator) WatchPlan(_ *linkmeshv1.WatchPlanRequest, stream grpc.ServerStreamingServer[linkmeshv1.WatchPlanResponse]) error {
	c.mu.Lock()
	p := c.plan
	c.mu.Unlock()
	if p != nil {
		if err := stream.Send(&linkmeshv1.WatchPlanResponse{Plan: p}); err != nil {
			return err
		}
	}
	<-stream.Context().Done()
	return nil
}

func (c *coordinator) Report(_ context.Context, req *linkmeshv1.ReportRequest) (*linkmeshv1.ReportResponse, error) {
	c.mu.Lock()
	hook := c.onReport
	c.mu.Unlock()
	if hook != nil {
		hook(req)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports++
	if c.down {
		return nil, status.Error(codes.Unavailable, "down for the test")
	}
	if c.reregister > 0 || req.GetEpoch() != c.epoch {
		c.reregister--
		return &linkmeshv1.ReportResponse{AckedSeq: c.acked, Reregister: true}, nil
	}
	for _, r := range req.GetResults() {
		if r.GetSeq() <= c.acked {
			c.duplicates++
			continue
		}
		c.acked = r.GetSeq()
		c.seqs = append(c.seqs, r.GetSeq())
	}
	return &linkmeshv1.ReportResponse{AckedSeq: c.acked}, nil
}

func (c *coordinator) counted() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs)
}

func (c *coordinator) set(f func(c *coordinator)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

// serve runs c on a loopback gRPC server (on addr, or a free port when addr is
// "127.0.0.1:0") and returns its address and a stop function.
func serve(t *testing.T, c *coordinator, addr string) (string, func()) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	linkmeshv1.RegisterMeshServiceServer(srv, c)
	go func() { _ = srv.Serve(lis) }()
	var once sync.Once
	stop := func() { once.Do(srv.Stop) }
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// startClient runs a Client for buf against addr until the test ends.
func startClient(t *testing.T, addr string, buf *Buffer, plans chan<- *linkmeshv1.Plan) {
	t.Helper()
	startClientLogging(t, addr, buf, plans, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startClientLogging is startClient with the client's logger.
func startClientLogging(t *testing.T, addr string, buf *Buffer, plans chan<- *linkmeshv1.Plan, logger *slog.Logger) {
	t.Helper()
	c := &Client{
		Address: addr,
		Creds:   insecure.NewCredentials(),
		Info:    &linkmeshv1.ProbeInfo{Name: "sql01", Site: "sql", Epoch: 42},
		Buffer:  buf,
		Plans:   plans,
		Logger:  logger,
	}
	buf.Join(addr, 0) // as the agent does: the buffer holds results for c from now on
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Client.Run: got %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Client.Run did not return within 5s of cancel")
		}
	})
}

func upTo(n uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestClientDelivers: the backlog and later results arrive in order, once each,
// the buffer forgets them once acked, and the plan reaches the scheduler.
func TestClientDelivers(t *testing.T) {
	coord := &coordinator{plan: &linkmeshv1.Plan{Generation: 7}}
	addr, _ := serve(t, coord, "127.0.0.1:0")
	buf := NewBuffer(100)
	record(buf, 3) // results from before the coordinator was reachable
	plans := make(chan *linkmeshv1.Plan, 1)
	startClient(t, addr, buf, plans)

	select {
	case p := <-plans:
		if p.GetGeneration() != 7 {
			t.Errorf("plan: got generation %d, want 7", p.GetGeneration())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no plan within 5s")
	}
	waitfor.Cond(t, 5*time.Second, "the backlog", func() bool { return len(coord.counted()) >= 3 })
	record(buf, 2)
	waitfor.Cond(t, 5*time.Second, "the new results", func() bool { return len(coord.counted()) >= 5 })
	if got := coord.counted(); !slices.Equal(got, upTo(5)) {
		t.Errorf("counted: got %v, want %v", got, upTo(5))
	}
	waitfor.Cond(t, 2*time.Second, "the buffer to forget acked results", func() bool { return buf.Len() == 0 })
}

// TestClientResumesAfterFailures: reports failing for a while lose nothing.
func TestClientResumesAfterFailures(t *testing.T) {
	coord := &coordinator{}
	addr, _ := serve(t, coord, "127.0.0.1:0")
	buf := NewBuffer(100)
	startClient(t, addr, buf, make(chan *linkmeshv1.Plan, 10))
	record(buf, 2)
	waitfor.Cond(t, 5*time.Second, "the first results", func() bool { return len(coord.counted()) >= 2 })

	var before int
	coord.set(func(c *coordinator) { c.down, before = true, c.reports })
	record(buf, 5)
	waitfor.Cond(t, 5*time.Second, "a failed report", func() bool {
		coord.mu.Lock()
		defer coord.mu.Unlock()
		return coord.reports > before
	})
	if got := buf.Len(); got != 5 {
		t.Errorf("held while the coordinator fails: got %d, want 5", got)
	}
	coord.set(func(c *coordinator) { c.down = false })
	waitfor.Cond(t, 5*time.Second, "the backlog after recovery", func() bool { return len(coord.counted()) >= 7 })
	if got := coord.counted(); !slices.Equal(got, upTo(7)) {
		t.Errorf("counted: got %v, want %v", got, upTo(7))
	}
}

// TestClientReregisters: a coordinator that asks for registration gets it, and
// the client resumes after the cursor the coordinator returns.
func TestClientReregisters(t *testing.T) {
	coord := &coordinator{reregister: 1}
	addr, _ := serve(t, coord, "127.0.0.1:0")
	buf := NewBuffer(100)
	record(buf, 3)
	startClient(t, addr, buf, make(chan *linkmeshv1.Plan, 10))
	waitfor.Cond(t, 5*time.Second, "the results after registering again", func() bool { return len(coord.counted()) >= 3 })
	coord.mu.Lock()
	registers, dup := coord.registers, coord.duplicates
	coord.mu.Unlock()
	if registers < 2 {
		t.Errorf("Register calls: got %d, want at least 2", registers)
	}
	if dup != 0 {
		t.Errorf("duplicates: got %d, want 0", dup)
	}
	if got := coord.counted(); !slices.Equal(got, upTo(3)) {
		t.Errorf("counted: got %v, want %v", got, upTo(3))
	}
}

// TestClientCoordinatorRestart: a coordinator that restarts (losing its state)
// gets everything the probe still holds; nothing acked before is sent again.
func TestClientCoordinatorRestart(t *testing.T) {
	first := &coordinator{}
	addr, stop := serve(t, first, "127.0.0.1:0")
	buf := NewBuffer(100)
	startClient(t, addr, buf, make(chan *linkmeshv1.Plan, 10))
	record(buf, 3)
	waitfor.Cond(t, 5*time.Second, "the first results", func() bool { return len(first.counted()) >= 3 })
	waitfor.Cond(t, 2*time.Second, "the ack", func() bool { return buf.Len() == 0 })

	stop()
	record(buf, 4) // seqs 4-7 while the coordinator is away
	second := &coordinator{}
	serve(t, second, addr) // same address, fresh state
	waitfor.Cond(t, 10*time.Second, "the backlog at the restarted coordinator", func() bool { return len(second.counted()) >= 4 })
	if got, want := second.counted(), []uint64{4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("counted after restart: got %v, want %v", got, want)
	}
}

// TestClientTwoCoordinators: the buffer keeps a result until both coordinators
// have it; one being away does not hold back the other.
func TestClientTwoCoordinators(t *testing.T) {
	a, b := &coordinator{}, &coordinator{down: true}
	addrA, _ := serve(t, a, "127.0.0.1:0")
	addrB, _ := serve(t, b, "127.0.0.1:0")
	buf := NewBuffer(100)
	plans := make(chan *linkmeshv1.Plan, 10)
	startClient(t, addrA, buf, plans)
	startClient(t, addrB, buf, plans)
	record(buf, 4)
	waitfor.Cond(t, 5*time.Second, "coordinator a", func() bool { return len(a.counted()) >= 4 })
	if got := buf.Len(); got != 4 {
		t.Errorf("held while b is away: got %d, want 4", got)
	}
	b.set(func(c *coordinator) { c.down = false })
	waitfor.Cond(t, 5*time.Second, "coordinator b", func() bool { return len(b.counted()) >= 4 })
	waitfor.Cond(t, 2*time.Second, "the buffer to empty", func() bool { return buf.Len() == 0 })
	for name, c := range map[string]*coordinator{"a": a, "b": b} {
		if got := c.counted(); !slices.Equal(got, upTo(4)) {
			t.Errorf("%s counted: got %v, want %v", name, got, upTo(4))
		}
	}
}

// lockedBuffer is a bytes.Buffer a logger and the test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientLogsRefusalOnce: a coordinator that refuses the probe's
// registration is logged as a refusal with its reason — not as "unavailable" —
// once, however often the client retries.
func TestClientLogsRefusalOnce(t *testing.T) {
	coord := &coordinator{refuse: status.Error(codes.PermissionDenied, `this certificate is for probe "sql02"`)}
	addr, _ := serve(t, coord, "127.0.0.1:0")
	var logs lockedBuffer
	startClientLogging(t, addr, NewBuffer(10), make(chan *linkmeshv1.Plan, 1), slog.New(slog.NewTextHandler(&logs, nil)))
	waitfor.Cond(t, 15*time.Second, "3 registrations refused", func() bool {
		coord.mu.Lock()
		defer coord.mu.Unlock()
		return coord.registers >= 3
	})
	out := logs.String()
	if n := strings.Count(out, "the coordinator refused this probe"); n != 1 || !strings.Contains(out, `this certificate is for probe \"sql02\"`) {
		t.Errorf("%d refusal lines, want 1 with the coordinator's reason:\n%s", n, out)
	}
	if strings.Contains(out, "coordinator unavailable") {
		t.Errorf("a refusal logged as unavailability:\n%s", out)
	}
}
