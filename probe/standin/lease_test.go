package standin

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// holdUntilDone serves a stand-in without accepting: the listener stays
// bound until ctx ends (inside a synctest bubble a goroutine blocked in
// Accept would keep fake time from moving).
func holdUntilDone(ctx context.Context, _ net.Listener) error {
	<-ctx.Done()
	return nil
}

// bindable reports whether port can be bound on 127.0.0.1 now.
func bindable(port uint32) bool {
	lis, err := net.Listen("tcp", addr(port))
	if err != nil {
		return false
	}
	lis.Close()
	return true
}

func state(m *Manager, port uint32) *linkmeshv1.StandInStatus {
	for _, s := range m.Statuses() {
		if s.GetPort() == port {
			return s
		}
	}
	return nil
}

// TestStandInLeaseRenewedWhileRoundRuns: a stand-in whose plan renews it
// every 10 s holds the port past its 30 s lease for as long as the renewals
// come (here 2 min); the same renewal delivered again (a plan stream that
// reconnects) renews nothing; once the renewals stop, the port is released
// 30 s after the last one, not at the request's 10 min, reported ENDED with
// the reason, and logged once.
func TestStandInLeaseRenewedWhileRoundRuns(t *testing.T) {
	port := freePort(t)
	synctest.Test(t, func(t *testing.T) {
		logs := &lockedBuf{}
		m := New(holdUntilDone, "127.0.0.1", slog.New(slog.NewTextHandler(logs, nil)))
		reqs := make(chan []Request)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx, reqs) }()
		defer func() { cancel(); <-done }()

		req := Request{Port: port, MaxDuration: 10 * time.Minute, Lease: 30 * time.Second}
		reqs <- []Request{req}
		synctest.Wait()
		if st := state(m, port); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING || !strings.Contains(st.GetDetail(), "lease 30s") {
			t.Fatalf("status %v, want serving with a 30s lease", st)
		}
		for range 12 { // 2 minutes of renewals, one every 10 s
			time.Sleep(10 * time.Second)
			req.Renewal++
			reqs <- []Request{req}
			synctest.Wait()
			if st := state(m, port); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
				t.Fatalf("after renewal %d: %v, want serving", req.Renewal, st)
			}
			if bindable(port) {
				t.Fatalf("after renewal %d: the port is free while the stand-in is renewed", req.Renewal)
			}
		}
		// The last plan again (no new renewal), 20 s after the last renewal:
		// it does not extend the lease.
		time.Sleep(20 * time.Second)
		reqs <- []Request{req}
		synctest.Wait()
		if st := state(m, port); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
			t.Fatalf("20 s after the last renewal: %v, want still serving", st)
		}
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		if st := state(m, port); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
			t.Fatalf("just before the lease ends: %v, want still serving", st)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		st := state(m, port)
		if st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_ENDED || !strings.Contains(st.GetDetail(), "lease ran out") {
			t.Fatalf("30 s after the last renewal: %v, want ended: lease ran out", st)
		}
		if !bindable(port) {
			t.Fatal("the port is still held after the lease ran out")
		}
		// The coordinator's plans keep listing it: nothing is bound again, and
		// nothing more is logged.
		req.Renewal++
		reqs <- []Request{req}
		synctest.Wait()
		if st := state(m, port); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_ENDED || !bindable(port) {
			t.Fatalf("a renewal after the lease ran out: %v (bindable %v), want it to stay ended", st, bindable(port))
		}
		if n := strings.Count(logs.String(), "lease ran out"); n != 1 {
			t.Errorf("the lease running out was logged %d times, want once:\n%s", n, logs)
		}
	})
}

// TestStandInLeaseDefaultAndBounds: a request without a lease gets
// DefaultLease; a lease beyond MaxLease is cut to it; the probe's own
// --stand-in ports (Continuous) have none.
func TestStandInLeaseDefaultAndBounds(t *testing.T) {
	noLease, huge, own := freePort(t), freePort(t), freePort(t)
	synctest.Test(t, func(t *testing.T) {
		m := New(holdUntilDone, "127.0.0.1", slog.New(slog.DiscardHandler))
		reqs := make(chan []Request)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx, reqs) }()
		defer func() { cancel(); <-done }()
		reqs <- []Request{{Port: noLease}, {Port: huge, MaxDuration: time.Hour, Lease: time.Hour}, {Port: own, Continuous: true}}
		time.Sleep(DefaultLease)
		synctest.Wait()
		if st := state(m, noLease); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_ENDED {
			t.Errorf("no lease given, after %v: %v, want ended", DefaultLease, st)
		}
		time.Sleep(MaxLease - DefaultLease)
		synctest.Wait()
		if st := state(m, huge); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_ENDED {
			t.Errorf("a 1 h lease, after %v: %v, want ended", MaxLease, st)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if st := state(m, own); st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
			t.Errorf("--stand-in port after an hour: %v, want serving", st)
		}
	})
}

// lockedBuf is a log sink safe for concurrent writers.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
