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

// followGossip copies gossip's view of the probes into the store whenever it
// changes, and every few seconds for fresh ping round trips, until ctx is done.
func (s *Server) followGossip(ctx context.Context) error {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		changed := s.gossip.Changed()
		var members []pathstate.Member
		for _, m := range s.gossip.Members() {
			if m.Meta.Role != gossip.RoleProbe {
				continue
			}
			members = append(members, pathstate.Member{
				Info: &linkmeshv1.ProbeInfo{
					Name:             m.Meta.Name,
					Site:             m.Meta.Site,
					Labels:           m.Meta.Labels,
					Version:          m.Meta.Version,
					ResponderAddress: m.Meta.Responder,
				},
				State: gossipState(m.State),
				Since: m.Since,
				RTT:   m.RTT,
				RTTAt: m.RTTAt,
			})
		}
		s.store.SetMembers(members)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
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
