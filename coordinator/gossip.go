package coordinator

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/gossip"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
)

// startGossip makes the coordinator a gossip member that tells probes where its
// gRPC API is.
func (s *Server) startGossip(key []byte, accepted [][]byte) error {
	cfg := s.cfg.Load()
	meta := gossip.Meta{Role: gossip.RoleCoordinator, Name: cfg.Name, Version: buildinfo.Version()}
	node, err := gossip.Start(gossip.Config{
		Meta:       meta,
		Bind:       cfg.Gossip.Bind,
		Advertise:  cfg.Gossip.Advertise,
		Join:       cfg.Gossip.Join,
		Key:        key,
		AcceptKeys: accepted,
		Profile:    cfg.Gossip.Profile,
		Logger:     s.logger.With("component", "gossip"),
	})
	if err != nil {
		return err
	}
	s.gossip = node
	meta.GRPC = s.advertisedGRPC()
	if err := node.UpdateMeta(meta); err != nil {
		return fmt.Errorf("gossip: publish the gRPC address: %w", err)
	}
	return nil
}

// advertisedGRPC is the gRPC address gossip gives probes: advertise_grpc, else the
// listen host (when specific) or the gossip address's host, with the gRPC port.
func (s *Server) advertisedGRPC() string {
	cfg := s.cfg.Load()
	if cfg.Listen.AdvertiseGRPC != "" {
		return cfg.Listen.AdvertiseGRPC
	}
	_, port, _ := net.SplitHostPort(s.GRPCAddr().String())
	host, _, _ := net.SplitHostPort(cfg.Listen.GRPC)
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host, _, _ = net.SplitHostPort(s.gossip.Addr())
	}
	return net.JoinHostPort(host, port)
}

// gossipStats counts the gossip input the coordinator does not take in.
type gossipStats struct {
	// members counts gossip members, once each while they stay refused.
	members *prometheus.CounterVec
	// memberRTTs counts round-trip entries dropped from probes' reports.
	memberRTTs *prometheus.CounterVec
}

func newGossipStats(reg prometheus.Registerer) gossipStats {
	g := gossipStats{
		members: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_gossip_members_rejected_total",
			Help: "Gossip members not taken in, by reason: name or metadata (fails the rules Register applies), unregistered (describes itself as a probe but never registered over gRPC: no target, no plan). Each member counts once while it stays refused.",
		}, []string{"reason"}),
		memberRTTs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_member_rtts_dropped_total",
			Help: "Gossip round trips dropped from probes' reports (the rest of the report is counted), by reason: name (not a member name), rtt (missing or out-of-range figure or time), too_many (beyond 256 in one report).",
		}, []string{"reason"}),
	}
	for _, r := range []string{pathstate.RejectName, pathstate.RejectMetadata, pathstate.RejectUnregistered} {
		g.members.WithLabelValues(r)
	}
	for _, r := range []string{pathstate.RejectName, pathstate.RejectRTT, pathstate.RejectTooMany} {
		g.memberRTTs.WithLabelValues(r)
	}
	reg.MustRegister(g.members, g.memberRTTs)
	return g
}

// recordMemberRTTs stores the valid gossip round trips of a probe's report
// and counts the dropped ones.
func (s *Server) recordMemberRTTs(probe string, rtts []*linkmeshv1.MemberRTT) {
	kept, dropped := pathstate.FilterMemberRTTs(rtts)
	for reason, n := range dropped {
		s.gossipStats.memberRTTs.WithLabelValues(reason).Add(float64(n))
	}
	s.store.RecordMemberRTTs(probe, kept)
}

// followGossip copies gossip's view of the probes into the store whenever it
// changes, and every few seconds for fresh ping round trips, until ctx is done.
// Gossip is input, not truth: a member whose name or description fails the
// rules Register applies is dropped, and one that describes itself as a probe
// but never registered is no probe (see Store.SetMembers); both are counted
// once, and logged in one line at most once a minute.
func (s *Server) followGossip(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	refused := map[string]string{} // node name → reason, as of the last pass
	// The log says what was refused at most once a minute (a mesh-key holder
	// may add members faster).
	var logged time.Time
	var pending int
	var example error
	for {
		changed := s.gossip.Changed()
		var members []pathstate.Member
		now := map[string]string{}
		for _, m := range s.gossip.Members() {
			if m.Meta.Role != gossip.RoleProbe {
				continue
			}
			info := &linkmeshv1.ProbeInfo{
				Name:             m.Meta.Name,
				Site:             m.Meta.Site,
				Labels:           m.Meta.Labels,
				Version:          m.Meta.Version,
				ResponderAddress: m.Meta.Responder,
			}
			if reason, err := pathstate.ValidateMember(info); err != nil {
				now[m.NodeName] = reason
				if refused[m.NodeName] != reason && example == nil {
					example = err
				}
				continue
			}
			members = append(members, pathstate.Member{
				Info:  info,
				State: gossipState(m.State),
				Since: m.Since,
				RTT:   m.RTT,
				RTTAt: m.RTTAt,
			})
		}
		for _, name := range s.store.SetMembers(members) {
			now[name] = pathstate.RejectUnregistered
			if refused[name] != pathstate.RejectUnregistered && example == nil {
				example = fmt.Errorf("gossip member %q describes itself as a probe but never registered over gRPC", name)
			}
		}
		for name, reason := range now {
			if refused[name] != reason {
				s.gossipStats.members.WithLabelValues(reason).Inc()
				pending++
			}
		}
		if pending > 0 && time.Since(logged) >= time.Minute {
			attrs := []any{"members", pending}
			if example != nil {
				attrs = append(attrs, "example", truncate(example.Error(), 200))
			}
			s.logger.Warn("gossip members not taken in: invalid, or describing a probe that never registered (see linkmesh_coordinator_gossip_members_rejected_total)", attrs...)
			logged, pending, example = time.Now(), 0, nil
		}
		refused = now
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

// truncate cuts s to at most n bytes (gossip names are not bounded).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func gossipState(st gossip.State) pathstate.GossipState {
	switch st {
	case gossip.StateAlive:
		return pathstate.GossipAlive
	case gossip.StateLeft:
		return pathstate.GossipLeft
	}
	return pathstate.GossipDead
}

// GossipAddr is the gossip address (empty when gossip is disabled).
func (s *Server) GossipAddr() string {
	if s.gossip == nil {
		return ""
	}
	return s.gossip.Addr()
}
