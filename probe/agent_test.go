package probe

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnreachableCoordinatorCachedPlan: with no coordinator answering, a probe
// that has a cached plan keeps probing from it, keeps the results for later, keeps
// retrying, and logs the coordinator's absence once, not on every retry.
func TestUnreachableCoordinatorCachedPlan(t *testing.T) {
	// A coordinator address that resets every connection (as a port where
	// nothing listens would), counting the probe's attempts to reach it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	coord := l.Addr().String()
	var dials atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	// A target that answers.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tp := target.Addr().(*net.TCPAddr)
	cache := filepath.Join(t.TempDir(), "plan.pb")
	plan := &linkmeshv1.Plan{Generation: 3, Targets: []*linkmeshv1.Target{{
		Id: "cached", Kind: linkmeshv1.Kind_KIND_TCP, Host: "127.0.0.1", Port: uint32(tp.Port), Name: "t", Site: "mi",
		Interval: durationpb.New(100 * time.Millisecond), Timeout: durationpb.New(100 * time.Millisecond),
	}}}
	if err := savePlan(cache, plan); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	a, err := New(Config{Name: "sql1", Site: "sql", Coordinators: []string{coord}, Creds: insecure.NewCredentials(),
		BufferSize: 1000, PlanCache: cache}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	waitfor.Poll(10*time.Second, func() bool { return a.Buffer().Len() >= 20 })
	// Several reconnect attempts (backoff from 0.5 s), each a chance to log again.
	waitfor.Cond(t, 15*time.Second, "4 attempts to reach the coordinator", func() bool { return dials.Load() >= 4 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := a.Buffer().Len(); n < 20 {
		t.Errorf("%d results kept while the coordinator was away, want ≥ 20 from the cached plan", n)
	}
	text := logs.String()
	if n := strings.Count(text, "coordinator unavailable"); n != 1 {
		t.Errorf("the coordinator's absence was logged %d times, want once:\n%s", n, text)
	}
	if !strings.Contains(text, "probing from the cached plan") {
		t.Errorf("no word that the cached plan is used:\n%s", text)
	}
}
