package pathstate

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"slices"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
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

// Why gossip input was not taken in: the reason label of the coordinator's
// gossip counters (docs/metrics.md).
const (
	// RejectName: a member or round-trip entry whose name fails Register's rules.
	RejectName = "name"
	// RejectMetadata: a member whose gossiped description (site, labels,
	// version, responder address) fails Register's rules.
	RejectMetadata = "metadata"
	// RejectUnregistered: a member that describes itself as a probe in gossip
	// but never registered over gRPC; gossip alone makes no probe.
	RejectUnregistered = "unregistered"
	// RejectRTT: a round-trip entry with a missing, negative or absurd figure
	// or time.
	RejectRTT = "rtt"
	// RejectTooMany: round-trip entries beyond MaxMemberRTTs in one report.
	RejectTooMany = "too_many"
)

// ValidateMember checks a gossip member that says it is a probe with the
// rules Register applies (ValidateProbe, ValidName). Today's probes gossip no
// description, only their name: then the name alone is checked. It returns
// the reason (RejectName or RejectMetadata) with the error.
func ValidateMember(info *linkmeshv1.ProbeInfo) (reason string, err error) {
	if !ValidName(info.GetName()) {
		return RejectName, fmt.Errorf("gossip member %q: not a valid probe name (1-63 letters, digits, '.', '_', '-')", info.GetName())
	}
	if !Described(info) {
		return "", nil
	}
	if err := ValidateProbe(info); err != nil {
		return RejectMetadata, fmt.Errorf("gossip member %q: %w", info.GetName(), err)
	}
	return "", nil
}

// Described reports whether a gossip member carries a probe description
// (site, labels, version or responder address) beyond its name.
func Described(info *linkmeshv1.ProbeInfo) bool {
	return info.GetSite() != "" || len(info.GetLabels()) > 0 || info.GetVersion() != "" || info.GetResponderAddress() != ""
}

// SetMembers replaces the gossip view of the probes. Gossip is input, not
// truth: it only updates the gossip state, and the coordinator's round trips,
// of probes that registered over gRPC (or were restored from a checkpoint),
// and never their description. A member gossip alone knows is not stored: it
// is no measurement target, has no plan and does not count against
// Limits.MaxProbes. The members must be validated (ValidateMember) first.
// SetMembers returns the names of the members that describe themselves as
// probes but are not registered. Plans are recomputed when a registered
// probe's gossip state changed.
func (s *Store) SetMembers(members []Member) (unregistered []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	seen := map[string]bool{}
	for _, m := range members {
		name := m.Info.GetName()
		p, ok := s.probes[name]
		if !ok {
			if Described(m.Info) {
				unregistered = append(unregistered, name)
			}
			continue // known only to gossip: it appears once it registers
		}
		seen[name] = true
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
		// Forgotten by gossip (dead or gone for long).
		p.Gossip = GossipUnknown
		changed = true
	}
	if changed {
		s.notifyLocked()
	}
	return unregistered
}

// FilterMemberRTTs keeps a report's gossip round trips that are valid (a
// member name gossip may use, a figure between 0 and an hour, a time) up to
// MaxMemberRTTs, and counts the others by reason (RejectName, RejectRTT,
// RejectTooMany): a bad entry is dropped, never the report.
func FilterMemberRTTs(rtts []*linkmeshv1.MemberRTT) (kept []*linkmeshv1.MemberRTT, dropped map[string]int) {
	for _, r := range rtts {
		reason := ""
		switch d := r.GetRtt(); {
		case !memberRe.MatchString(r.GetMember()):
			reason = RejectName
		case d == nil || d.CheckValid() != nil || d.AsDuration() < 0 || d.AsDuration() > maxRTT,
			r.GetTime() == nil || r.GetTime().CheckValid() != nil:
			reason = RejectRTT
		case len(kept) >= MaxMemberRTTs:
			reason = RejectTooMany
		}
		if reason != "" {
			if dropped == nil {
				dropped = map[string]int{}
			}
			dropped[reason]++
			continue
		}
		kept = append(kept, r)
	}
	return kept, dropped
}

// RecordMemberRTTs stores a probe's own gossip ping round trips; pass them
// through FilterMemberRTTs first.
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
	slices.SortFunc(out, func(a, b *linkmeshv1.ProbeInfo) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return out
}
