// Package standin lets a probe stand in for an endpoint that does not exist
// yet: it binds the real port on its host (5022, the database mirroring
// endpoint's port) while that port is free, serves the responder protocol
// there so the far side can prove the path end to end, and releases the port
// when the request is withdrawn or its time is up.
//
// A coordinator's stand-in is a lease: the port is held only while the
// coordinator renews the request (a new Request.Renewal in a plan), and is
// released once Request.Lease has passed without one. A coordinator that dies
// mid-round, or a plan stream that breaks, thus frees the port within one
// lease rather than at the request's MaxDuration.
//
// A port another program holds is never touched: the stand-in reports it as
// taken (on the SQL Server host that is usually the real mirroring endpoint,
// which the far side then measures with the tcp kind). Nor is it retried: a
// probe that grabbed 5022 the moment SQL Server released it during a restart
// would keep SQL Server from creating its endpoint.
package standin

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/notify"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// Bounds on a requested stand-in.
const (
	// DefaultDuration applies when a request gives none.
	DefaultDuration = 10 * time.Minute
	// MaxDuration caps every request that is not Continuous.
	MaxDuration = time.Hour
	// DefaultLease applies when a request gives none.
	DefaultLease = 30 * time.Second
	// MinLease and MaxLease bound a requested lease.
	MinLease = time.Second
	MaxLease = 5 * time.Minute
)

// Request asks for one stand-in.
type Request struct {
	// Port to bind on all the host's addresses.
	Port uint32
	// MaxDuration is the longest the port is held, from when the request is
	// first seen (0: DefaultDuration; at most MaxDuration).
	MaxDuration time.Duration
	// Continuous holds the port for as long as the request stands, with no
	// time limit and no lease: only from the probe's own --stand-in flag.
	Continuous bool
	// Lease is how long the port is held after the last renewal (0:
	// DefaultLease; bounded to MinLease..MaxLease).
	Lease time.Duration
	// Renewal renews the lease when it differs from the one last seen for
	// the port.
	Renewal uint64
}

// lease returns the request's lease, bounded.
func (r Request) lease() time.Duration {
	if r.Lease <= 0 {
		return DefaultLease
	}
	return min(max(r.Lease, MinLease), MaxLease)
}

// Serve serves the responder protocol on lis until ctx is done.
type Serve func(ctx context.Context, lis net.Listener) error

// Manager holds the stand-ins. Create it with New and call Run once.
type Manager struct {
	serve  Serve
	logger *slog.Logger
	// host is the address to bind ("" for all; tests use 127.0.0.1).
	host string

	mu      sync.Mutex
	allowed []uint32 // ports coordinators may ask for; nil: any (ports.go)
	entries map[uint32]*entry
	changed notify.Signal
}

// entry is one requested port.
type entry struct {
	req    Request
	status *linkmeshv1.StandInStatus
	cancel context.CancelFunc // stops the serving goroutine (nil when not serving)
	done   chan struct{}      // closed when it has stopped

	// The lease (not for Continuous requests), guarded by Manager.mu.
	lease     time.Duration
	renewal   uint64
	renewed   time.Time   // when the lease last started
	leaseEnd  *time.Timer // fires when the lease runs out (nil: no lease)
	ranOut    bool        // the lease ran out: the serving goroutine is stopping
	withdrawn bool        // a plan dropped it: the serving goroutine is stopping
}

// New returns a Manager that serves stand-ins with serve. host is the address
// to bind ("" for all of the host's addresses).
func New(serve Serve, host string, logger *slog.Logger) *Manager {
	return &Manager{serve: serve, host: host, logger: logger, entries: map[uint32]*entry{}}
}

// Run applies every set of requests received until ctx is done, then releases
// every port and returns once their goroutines have ended. Each set replaces
// the previous one: ports no longer requested are released.
func (m *Manager) Run(ctx context.Context, requests <-chan []Request) error {
	var wg sync.WaitGroup
	defer func() {
		m.mu.Lock()
		for _, e := range m.entries {
			if e.cancel != nil {
				e.cancel()
			}
		}
		m.mu.Unlock()
		wg.Wait()
		m.mu.Lock()
		for _, e := range m.entries {
			if e.leaseEnd != nil {
				e.leaseEnd.Stop()
			}
		}
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case reqs := <-requests:
			m.apply(ctx, reqs, &wg)
		}
	}
}

func (m *Manager) apply(ctx context.Context, reqs []Request, wg *sync.WaitGroup) {
	want := map[uint32]Request{}
	for _, r := range reqs {
		if r.Port == 0 || r.Port > 65535 {
			continue
		}
		if _, dup := want[r.Port]; !dup {
			want[r.Port] = r
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for port, e := range m.entries {
		if r, ok := want[port]; ok {
			m.renewLocked(e, r)
			continue
		}
		if e.cancel != nil {
			e.withdrawn = true
			e.cancel()
			m.mu.Unlock()
			<-e.done // the port is free again before anything else happens
			m.mu.Lock()
		}
		delete(m.entries, port)
		m.logger.Info("stand-in withdrawn; port released", "port", port)
	}
	for port, r := range want {
		if _, ok := m.entries[port]; ok {
			continue // already handled: serving, taken, failed or ended
		}
		m.entries[port] = m.startAllowed(ctx, r, wg)
	}
	m.notifyLocked()
}

// start binds the port and serves it, or records why it cannot.
func (m *Manager) start(ctx context.Context, r Request, wg *sync.WaitGroup) *entry {
	e := &entry{req: r, status: &linkmeshv1.StandInStatus{Port: r.Port}}
	lis, err := net.Listen("tcp", net.JoinHostPort(m.host, strconv.Itoa(int(r.Port))))
	if err != nil {
		e.status.State, e.status.Detail = refusal(r.Port, err)
		m.logger.Warn("stand-in not started", "port", r.Port, "reason", e.status.GetDetail())
		return e
	}
	limit := r.MaxDuration
	if limit <= 0 {
		limit = DefaultDuration
	}
	limit = min(limit, MaxDuration)
	var (
		sctx   context.Context
		cancel context.CancelFunc
	)
	if r.Continuous {
		sctx, cancel = context.WithCancel(ctx)
	} else {
		sctx, cancel = context.WithTimeout(ctx, limit)
	}
	e.cancel, e.done = cancel, make(chan struct{})
	e.status.State = linkmeshv1.StandInState_STAND_IN_STATE_SERVING
	if r.Continuous {
		e.status.Detail = fmt.Sprintf("serving the responder protocol on port %d until the probe stops (--stand-in): SQL Server cannot create an endpoint on this port meanwhile", r.Port)
		m.logger.Info("stand-in serving", "port", r.Port, "continuous", true)
	} else {
		e.lease, e.renewal, e.renewed = r.lease(), r.Renewal, time.Now()
		e.leaseEnd = time.AfterFunc(e.lease, func() { m.leaseRanOut(e) })
		e.status.Detail = fmt.Sprintf("serving the responder protocol on port %d for at most %v while the coordinator renews it (lease %v), then releasing it", r.Port, limit, e.lease)
		m.logger.Info("stand-in serving", "port", r.Port, "continuous", false, "max_duration", limit, "lease", e.lease)
	}
	wg.Go(func() {
		defer close(e.done)
		if err := m.serve(sctx, lis); err != nil {
			m.logger.Warn("stand-in stopped", "port", r.Port, "error", err)
		}
		lis.Close()
		if ctx.Err() == nil && sctx.Err() != nil && !r.Continuous {
			m.ended(e, limit)
		}
	})
	return e
}

// renewLocked starts e's lease again when r carries a new renewal.
func (m *Manager) renewLocked(e *entry, r Request) {
	if e.leaseEnd == nil || e.ranOut || e.withdrawn || r.Continuous || r.Renewal == e.renewal {
		return
	}
	e.lease, e.renewal, e.renewed = r.lease(), r.Renewal, time.Now()
	e.leaseEnd.Reset(e.lease)
}

// leaseRanOut stops e's serving when its lease has passed with no renewal.
func (m *Manager) leaseRanOut(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.ranOut || e.withdrawn || e.cancel == nil {
		return
	}
	if left := e.lease - time.Since(e.renewed); left > 0 { // renewed as the timer fired
		e.leaseEnd.Reset(left)
		return
	}
	e.ranOut = true
	e.cancel()
}

// ended records that a stand-in ran for its time, or that its lease ran out,
// and released the port; a withdrawn one leaves the report instead.
func (m *Manager) ended(e *entry, limit time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.leaseEnd != nil {
		e.leaseEnd.Stop()
	}
	if e.withdrawn || e.status.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
		return
	}
	if e.ranOut {
		e.status = &linkmeshv1.StandInStatus{Port: e.req.Port, State: linkmeshv1.StandInState_STAND_IN_STATE_ENDED,
			Detail: fmt.Sprintf("lease ran out: no renewal from the coordinator for %v (it stopped, or its round ended without withdrawing the stand-in); released port %d", e.lease, e.req.Port)}
		m.logger.Warn("stand-in lease ran out with no renewal; port released", "port", e.req.Port, "lease", e.lease)
	} else {
		e.status = &linkmeshv1.StandInStatus{Port: e.req.Port, State: linkmeshv1.StandInState_STAND_IN_STATE_ENDED,
			Detail: fmt.Sprintf("ran for its %v and released port %d", limit, e.req.Port)}
		m.logger.Info("stand-in ended; port released", "port", e.req.Port)
	}
	m.notifyLocked()
}

func (m *Manager) notifyLocked() {
	m.changed.Notify()
}

// Statuses returns the state of every requested stand-in, by port. The report
// client sends it with every report.
func (m *Manager) Statuses() []*linkmeshv1.StandInStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*linkmeshv1.StandInStatus, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, &linkmeshv1.StandInStatus{Port: e.status.GetPort(), State: e.status.GetState(), Detail: e.status.GetDetail()})
	}
	slices.SortFunc(out, func(a, b *linkmeshv1.StandInStatus) int { return int(a.GetPort()) - int(b.GetPort()) })
	return out
}

// Changed returns a channel closed at the next change of any status.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed.C()
}
