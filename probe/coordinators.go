package probe

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/gossip"
	"github.com/linkmesh/linkmesh/probe/report"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func (a *Agent) gossipMeta(responder string) gossip.Meta {
	return gossip.Meta{
		Role:      gossip.RoleProbe,
		Name:      a.cfg.Name,
		Site:      a.cfg.Site,
		Labels:    a.cfg.Labels,
		Version:   buildinfo.Version(),
		Responder: responder,
	}
}

func (a *Agent) startGossip(responder string) error {
	gc := *a.cfg.Gossip
	if len(gc.Join) == 0 {
		for _, c := range a.cfg.Coordinators {
			if host, _, err := net.SplitHostPort(c); err == nil {
				gc.Join = append(gc.Join, net.JoinHostPort(host, strconv.Itoa(gossip.DefaultPort)))
			}
		}
	}
	node, err := gossip.Start(gossip.Config{
		Meta:       a.gossipMeta(responder),
		Bind:       gc.Bind,
		Advertise:  gc.Advertise,
		Join:       gc.Join,
		Key:        a.cfg.MeshKey,
		AcceptKeys: a.cfg.MeshKeysAccepted,
		Profile:    gc.Profile,
		Logger:     a.logger.With("component", "gossip"),
	})
	if err != nil {
		return err
	}
	if a.cfg.MeshKey == nil {
		a.logger.Warn("gossip without a mesh key: membership travels in clear text and any host can join")
	}
	a.gossip = node
	return nil
}

func (a *Agent) gossipAddr() string {
	if a.gossip == nil {
		return ""
	}
	return a.gossip.Addr()
}

// memberRTTs returns the probe's latest gossip ping round trips (for reports).
func (a *Agent) memberRTTs() []*linkmeshv1.MemberRTT {
	if a.gossip == nil {
		return nil
	}
	var out []*linkmeshv1.MemberRTT
	for _, m := range a.gossip.Members() {
		if m.Self || m.RTT <= 0 || m.State != gossip.StateAlive || time.Since(m.RTTAt) > 5*time.Minute {
			continue
		}
		out = append(out, &linkmeshv1.MemberRTT{Member: m.NodeName, Rtt: durationpb.New(m.RTT), Time: timestamppb.New(m.RTTAt)})
	}
	return out
}

// manageCoordinators runs a report client for every coordinator: the configured
// ones always, and those gossip announces while they are members. A coordinator
// that leaves the mesh on purpose is dropped (its unacked results with it); one
// that dies is kept, since it may come back.
func (a *Agent) manageCoordinators(ctx context.Context, plans chan<- *linkmeshv1.Plan) error {
	set := &coordinatorSet{a: a, plans: plans, running: map[string]context.CancelFunc{}, staticNames: map[string]bool{}, identified: make(chan struct{}, 1)}
	defer set.wg.Wait()
	for _, addr := range a.cfg.Coordinators {
		set.start(ctx, addr, true)
	}
	if a.gossip == nil {
		<-ctx.Done()
		return nil
	}
	for {
		changed := a.gossip.Changed()
		set.reconcile(ctx, a.gossip.Members())
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-set.identified:
		}
	}
}

// coordinatorSet is the report clients of one probe, by coordinator address:
// the configured ones for as long as the probe runs, those gossip announces
// while they are alive and not one of the configured ones under another
// address. Its goroutines end when the context given to start ends.
type coordinatorSet struct {
	a     *Agent
	plans chan<- *linkmeshv1.Plan
	wg    sync.WaitGroup

	running map[string]context.CancelFunc // by address; used by one goroutine
	// The coordinator names the configured addresses answer with: gossip may
	// announce the same coordinator at another of its addresses.
	namesMu     sync.Mutex
	staticNames map[string]bool
	// identified wakes the reconcile loop when a configured address answers
	// with a new name.
	identified chan struct{}
}

// start runs a report client for addr; static marks a configured address.
func (cs *coordinatorSet) start(ctx context.Context, addr string, static bool) {
	a := cs.a
	a.buf.Join(addr, 0)
	cctx, cancel := context.WithCancel(ctx)
	cs.running[addr] = cancel
	c := &report.Client{
		Address:    addr,
		Creds:      a.cfg.Creds,
		Info:       a.info,
		Buffer:     a.buf,
		Plans:      cs.plans,
		Logger:     a.logger.With("component", "report", "coordinator", addr),
		MemberRTTs: a.memberRTTs,
		ReplayRate: a.cfg.ReplayRate,
		// Every report carries the stand-ins' state; a change is
		// reported at once.
		StandIns:        a.standIns.Statuses,
		StandInsChanged: a.standIns.Changed,
	}
	if static {
		c.OnRegistered = cs.registered
	}
	cs.wg.Go(func() {
		if err := c.Run(cctx); err != nil {
			a.logger.Error("coordinator client ended", "coordinator", addr, "error", err)
		}
	})
}

// registered notes the name a configured address answered with.
func (cs *coordinatorSet) registered(name string) {
	cs.namesMu.Lock()
	defer cs.namesMu.Unlock()
	if !cs.staticNames[name] {
		cs.staticNames[name] = true
		select {
		case cs.identified <- struct{}{}:
		default:
		}
	}
}

// reconcile starts and stops the clients of coordinators gossip knows.
func (cs *coordinatorSet) reconcile(ctx context.Context, members []gossip.Member) {
	a := cs.a
	cs.namesMu.Lock()
	known := maps.Clone(cs.staticNames)
	cs.namesMu.Unlock()
	stop := func(grpc string) {
		cs.running[grpc]()
		delete(cs.running, grpc)
		a.buf.Leave(grpc)
	}
	for _, m := range members {
		if m.Meta.Role != gossip.RoleCoordinator || m.Meta.GRPC == "" || slices.Contains(a.cfg.Coordinators, m.Meta.GRPC) {
			continue
		}
		_, ok := cs.running[m.Meta.GRPC]
		switch {
		case known[m.Meta.Name]:
			if ok {
				stop(m.Meta.GRPC)
			}
		case !ok && m.State == gossip.StateAlive:
			a.logger.Info("coordinator found through gossip", "coordinator", m.Meta.Name, "grpc", m.Meta.GRPC)
			cs.start(ctx, m.Meta.GRPC, false)
		case ok && m.State == gossip.StateLeft:
			a.logger.Info("coordinator left the mesh; no longer reporting to it", "coordinator", m.Meta.Name, "grpc", m.Meta.GRPC)
			stop(m.Meta.GRPC)
		}
	}
}
