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
	var wg sync.WaitGroup
	defer wg.Wait()
	running := map[string]context.CancelFunc{}
	// The coordinator names the configured addresses answer with: gossip may
	// announce the same coordinator at another of its addresses.
	var namesMu sync.Mutex
	staticNames := map[string]bool{}
	identified := make(chan struct{}, 1)
	start := func(addr string, static bool) {
		a.buf.Join(addr, 0)
		cctx, cancel := context.WithCancel(ctx)
		running[addr] = cancel
		c := &report.Client{
			Address:    addr,
			Creds:      a.cfg.Creds,
			Info:       a.info,
			Buffer:     a.buf,
			Plans:      plans,
			Logger:     a.logger.With("component", "report", "coordinator", addr),
			MemberRTTs: a.memberRTTs,
			ReplayRate: a.cfg.ReplayRate,
			// Every report carries the stand-ins' state; a change is
			// reported at once.
			StandIns:        a.standIns.Statuses,
			StandInsChanged: a.standIns.Changed,
		}
		if static {
			c.OnRegistered = func(name string) {
				namesMu.Lock()
				defer namesMu.Unlock()
				if !staticNames[name] {
					staticNames[name] = true
					select {
					case identified <- struct{}{}:
					default:
					}
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(cctx); err != nil {
				a.logger.Error("coordinator client ended", "coordinator", addr, "error", err)
			}
		}()
	}
	for _, addr := range a.cfg.Coordinators {
		start(addr, true)
	}
	if a.gossip == nil {
		<-ctx.Done()
		return nil
	}
	for {
		changed := a.gossip.Changed()
		namesMu.Lock()
		known := maps.Clone(staticNames)
		namesMu.Unlock()
		for _, m := range a.gossip.Members() {
			if m.Meta.Role != gossip.RoleCoordinator || m.Meta.GRPC == "" || slices.Contains(a.cfg.Coordinators, m.Meta.GRPC) {
				continue
			}
			cancel, ok := running[m.Meta.GRPC]
			switch {
			case known[m.Meta.Name]:
				if ok {
					cancel()
					delete(running, m.Meta.GRPC)
					a.buf.Leave(m.Meta.GRPC)
				}
			case !ok && m.State == gossip.StateAlive:
				a.logger.Info("coordinator found through gossip", "coordinator", m.Meta.Name, "grpc", m.Meta.GRPC)
				start(m.Meta.GRPC, false)
			case ok && m.State == gossip.StateLeft:
				a.logger.Info("coordinator left the mesh; no longer reporting to it", "coordinator", m.Meta.Name, "grpc", m.Meta.GRPC)
				cancel()
				delete(running, m.Meta.GRPC)
				a.buf.Leave(m.Meta.GRPC)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-identified:
		}
	}
}
