package pathstate

import (
	"maps"
	"net"
	"slices"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// GossipState is a probe's liveness in the gossip cluster, as this coordinator
// sees it.
type GossipState string

// The gossip states; GossipUnknown means the probe is not (or not yet) seen in
// gossip, e.g. it runs with --no-gossip.
const (
	GossipUnknown GossipState = ""
	GossipAlive   GossipState = "alive"
	GossipDead    GossipState = "dead"
	GossipLeft    GossipState = "left"
)

// Member is a probe as gossip describes it.
type Member struct {
	// Info carries the name, site, labels, version and responder address.
	Info  *linkmeshv1.ProbeInfo
	State GossipState
	// Since is when the member entered State.
	Since time.Time
	// RTT is this coordinator's latest ping round trip to the member (0: none).
	RTT   time.Duration
	RTTAt time.Time
}

// SetMembers replaces the gossip view of the probes. Probes known only through
// gossip (not registered over gRPC) are added with their gossip description;
// a registered probe keeps its own description. Plans are recomputed when the
// membership changed.
func (s *Store) SetMembers(members []Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	seen := map[string]bool{}
	for _, m := range members {
		name := m.Info.GetName()
		seen[name] = true
		p, ok := s.probes[name]
		if !ok && m.Info.GetSite() == "" {
			continue // known only as a gossip name: it appears once it registers
		}
		if !ok {
			p = &Probe{Info: proto.Clone(m.Info).(*linkmeshv1.ProbeInfo)}
			s.probes[name] = p
			changed = true
		} else if p.Registered.IsZero() && !sameInfo(p.Info, m.Info) {
			p.Info = proto.Clone(m.Info).(*linkmeshv1.ProbeInfo)
			changed = true
		}
		if p.Gossip != m.State {
			changed = true
		}
		p.Gossip, p.GossipSince = m.State, m.Since
		p.CoordinatorRTT, p.CoordinatorRTTAt = m.RTT, m.RTTAt
	}
	for name, p := range s.probes {
		if seen[name] || p.Gossip == GossipUnknown {
			continue
		}
		// Forgotten by gossip (dead or gone for long): drop the probe unless it
		// is registered over gRPC.
		if p.Registered.IsZero() {
			delete(s.probes, name)
		} else {
			p.Gossip = GossipUnknown
		}
		changed = true
	}
	if changed {
		s.notifyLocked()
	}
}

// RecordMemberRTTs stores a probe's own gossip ping round trips.
func (s *Store) RecordMemberRTTs(probe string, rtts []*linkmeshv1.MemberRTT) {
	if len(rtts) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.probes[probe]
	if !ok {
		return
	}
	if p.MemberRTTs == nil {
		p.MemberRTTs = map[string]RTTSample{}
	}
	for _, r := range rtts {
		if r.GetRtt() == nil || r.GetTime() == nil {
			continue
		}
		p.MemberRTTs[r.GetMember()] = RTTSample{RTT: r.GetRtt().AsDuration(), At: r.GetTime().AsTime()}
	}
	// Bound the map: a probe reports at most MaxMemberRTTs members.
	for k := range p.MemberRTTs {
		if len(p.MemberRTTs) <= MaxMemberRTTs {
			break
		}
		delete(p.MemberRTTs, k)
	}
}

// RTTSample is one ping round trip.
type RTTSample struct {
	RTT time.Duration
	At  time.Time
}

// up judges a probe's liveness: it reports (within staleAfter), keeps a plan
// stream open, and gossip (when it knows the probe) does not say it is dead or
// gone. A probe that was never registered over gRPC is not up.
func (p *Probe) up(now time.Time, staleAfter time.Duration) bool {
	if p.LastReport.IsZero() || now.Sub(p.LastReport) > staleAfter || p.Streams == 0 {
		return false
	}
	return p.Gossip != GossipDead && p.Gossip != GossipLeft
}

// ResponderPort returns the port of the probe's responder (0 if none).
func (p *Probe) ResponderPort() uint32 {
	_, port, err := net.SplitHostPort(p.Info.GetResponderAddress())
	if err != nil {
		return 0
	}
	var n uint32
	for _, c := range port {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}

// Lookup returns a copy of what the store knows of the named probe. The
// check rounds read a probe's description, plan streams and stand-ins with it.
func (s *Store) Lookup(name string) (Probe, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.probes[name]
	if !ok {
		return Probe{}, false
	}
	cp := *p
	cp.MemberRTTs = maps.Clone(p.MemberRTTs)
	return cp, true
}

// Connected returns the description of every probe that holds a plan stream
// open to this coordinator, sorted by name.
func (s *Store) Connected() []*linkmeshv1.ProbeInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*linkmeshv1.ProbeInfo
	for _, p := range s.probes {
		if p.Streams > 0 {
			out = append(out, p.Info)
		}
	}
	slices.SortFunc(out, func(a, b *linkmeshv1.ProbeInfo) int { return compareStrings(a.GetName(), b.GetName()) })
	return out
}
