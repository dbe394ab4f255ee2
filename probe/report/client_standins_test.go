package report

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/credentials/insecure"
)

// standIns is a stand-in manager as the client sees it: statuses and a
// channel closed at each change.
type standIns struct {
	mu       sync.Mutex
	statuses []*linkmeshv1.StandInStatus
	changed  chan struct{}
}

func (s *standIns) Statuses() []*linkmeshv1.StandInStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses
}

func (s *standIns) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *standIns) set(st ...*linkmeshv1.StandInStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses = st
	close(s.changed)
	s.changed = make(chan struct{})
}

// TestClientReportsStandInChangeDuringReport: a stand-in change that happens
// while a report is on its way (after its statuses were taken) is reported
// at once, not at the next heartbeat. A check round waits for it.
func TestClientReportsStandInChangeDuringReport(t *testing.T) {
	src := &standIns{changed: make(chan struct{})}
	serving := &linkmeshv1.StandInStatus{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING}
	var once sync.Once
	seen := make(chan time.Time, 16)
	fake := &coordinator{}
	fake.onReport = func(req *linkmeshv1.ReportRequest) {
		// The first report (the heartbeat at connect) carries no stand-in;
		// the change lands while it is in flight.
		once.Do(func() { src.set(serving) })
		for _, st := range req.GetStandIns() {
			if st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
				seen <- time.Now()
			}
		}
	}
	addr, _ := serve(t, fake, "127.0.0.1:0")
	buf := NewBuffer(10)
	c := &Client{
		Address: addr, Creds: insecure.NewCredentials(),
		Info:   &linkmeshv1.ProbeInfo{Name: "sql01", Site: "sql", Epoch: 42},
		Buffer: buf, Plans: make(chan *linkmeshv1.Plan, 1),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		StandIns: src.Statuses, StandInsChanged: src.Changed,
	}
	buf.Join(addr, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	start := time.Now()
	select {
	case at := <-seen:
		t.Logf("the change made during a report was reported %v later", at.Sub(start).Round(time.Millisecond))
	case <-time.After(Heartbeat / 2):
		t.Fatalf("a stand-in change made during a report was not reported within %v (the heartbeat is %v)", Heartbeat/2, Heartbeat)
	}
}
