package coordinator

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/coordinator/policy"
	"github.com/linkmesh/linkmesh/coordinator/round"
	"github.com/linkmesh/linkmesh/internal/buildinfo"
	"github.com/linkmesh/linkmesh/internal/remedy"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// HistoryLength is how many of each path's latest attempts /api/v1/status
// gives (the status page's strip).
const HistoryLength = 60

// Status is the /api/v1/status answer: the one reading the status page and
// `linkmesh status` show — every path with its state, why it is unknown when
// it is, its figures, recent attempts and fix; the probes; the last check
// rounds.
type Status struct {
	Coordinator string    `json:"coordinator"`
	Version     string    `json:"version"`
	Generated   time.Time `json:"generated"`
	Window      string    `json:"window"`
	StaleAfter  string    `json:"stale_after"`
	// Summary counts the paths by state.
	Summary StatusSummary `json:"summary"`
	// Idle are the policy's rules that make no path now (no probe they
	// select is registered, or none they point at): what they should prove is
	// not measured, so the mesh cannot read up.
	Idle   []IdleRule      `json:"idle_rules"`
	Paths  []StatusPath    `json:"paths"`
	Probes []StatusProbe   `json:"probes"`
	Rounds []round.Summary `json:"rounds"`
}

// IdleRule is a rule of the path policy that makes no path now.
type IdleRule struct {
	// Rule is the rule's name (given, or derived from its from/to).
	Rule string `json:"rule"`
	// Why says which end is missing.
	Why string `json:"why"`
}

// StatusSummary counts paths by state.
type StatusSummary struct {
	Up      int `json:"up"`
	Down    int `json:"down"`
	Unknown int `json:"unknown"`
}

// StatusPath is one path in /api/v1/status: PathStatus and what the page
// needs beside it.
type StatusPath struct {
	PathStatus
	// ID is "<source>→<target>:<port>/<kind>", the page's data-path-id.
	ID string `json:"id"`
	// Direction is "sql → mi", "mi → sql" or "other" (sites not named sql
	// and mi); Role the MI link's name for the path where it has one (p1,
	// p2, p3, echo, d1).
	Direction string `json:"direction"`
	Role      string `json:"role,omitempty"`
	// UnknownReason says why State is unknown: the source probe is down, it
	// restarted and has not measured the path since, the target probe is
	// down, or no result has come yet.
	UnknownReason string `json:"unknown_reason,omitempty"`
	// AgeSeconds is the time since the latest result (absent: none yet).
	AgeSeconds *float64 `json:"age_s,omitempty"`
	// History is the latest attempts, oldest first (at most HistoryLength).
	History []StatusMark `json:"history"`
	// Fix is what to change when the latest result is not ok (internal/remedy,
	// the same builders as `linkmesh check`), and Doc the section of
	// docs/results.md about the result.
	Fix *remedy.Fix `json:"fix,omitempty"`
	Doc string      `json:"doc,omitempty"`
}

// StatusMark is one attempt of a path's history.
type StatusMark struct {
	Time     time.Time `json:"t"`
	Result   string    `json:"r"`
	RTTMilli float64   `json:"rtt_ms,omitempty"`
}

// StatusProbe is one probe in /api/v1/status.
type StatusProbe struct {
	Name    string `json:"name"`
	Site    string `json:"site"`
	Up      bool   `json:"up"`
	Version string `json:"version"`
	OS      string `json:"os"`
	// LastReport is when it last reported (absent: never to this coordinator).
	LastReport *time.Time `json:"last_report,omitempty"`
	// Gossip is its state in the gossip membership (alive, suspect, dead,
	// left; empty before gossip knows it).
	Gossip string `json:"gossip,omitempty"`
	// CoordinatorRTTMilli is this coordinator's latest gossip ping to it;
	// MemberRTTMilli the probe's own latest pings, by member.
	CoordinatorRTTMilli float64            `json:"coordinator_rtt_ms,omitempty"`
	MemberRTTMilli      map[string]float64 `json:"member_rtt_ms,omitempty"`
	// Backlog is what it last said it holds unacknowledged by this
	// coordinator (spool and memory); Dropped what it had to drop.
	Backlog uint64 `json:"backlog"`
	Dropped uint64 `json:"dropped"`
}

// Status builds the /api/v1/status answer with window statistics over window.
func (s *Server) Status(window time.Duration) Status {
	view, hist := s.store.ViewWithHistory(s.StaleAfter(), window, HistoryLength)
	out := Status{
		Coordinator: s.cfg.Load().Name, Version: buildinfo.Version(), Generated: view.Taken,
		Window: window.String(), StaleAfter: s.StaleAfter().String(),
		Paths: []StatusPath{}, Probes: []StatusProbe{}, Rounds: s.rounds.Recent(),
	}
	seen := map[pathstate.Key]bool{}
	for i := range view.Paths {
		p := &view.Paths[i]
		seen[p.Key] = true
		sp := StatusPath{PathStatus: pathStatus(&view, p)}
		sp.describe(&view.Snapshot, p.Key)
		if sp.LastResult != "" {
			age := view.Taken.Sub(p.LastTime).Seconds()
			sp.AgeSeconds = &age
		}
		for _, m := range hist[p.Key] {
			sp.History = append(sp.History, StatusMark{Time: m.Time, Result: vocab.CodeName(m.Code), RTTMilli: ms(m.RTT)})
		}
		if sp.State != "up" {
			sp.Fix = remedy.ForPath(remedy.Path{Kind: sp.Kind, SourceSite: sp.SourceSite, TargetSite: sp.TargetSite,
				Target: sp.Target, Port: sp.Port, PortEnd: sp.PortEnd, Result: sp.LastResult})
			sp.Doc = remedy.DocAnchor(sp.LastResult)
		}
		out.Paths = append(out.Paths, sp)
	}
	out.Paths = append(out.Paths, s.plannedOnly(&view.Snapshot, seen)...)
	sort.Slice(out.Paths, func(i, j int) bool { return out.Paths[i].ID < out.Paths[j].ID })
	for _, sp := range out.Paths {
		switch sp.State {
		case "up":
			out.Summary.Up++
		case "down":
			out.Summary.Down++
		default:
			out.Summary.Unknown++
		}
	}
	for i := range view.Probes {
		out.Probes = append(out.Probes, statusProbe(&view.Probes[i]))
	}
	out.Idle = s.idleRules()
	return out
}

// idleRules are the policy's rules that expand to no path over the probes
// registered now.
func (s *Server) idleRules() []IdleRule {
	rules := s.cfg.Load().Paths
	probes := s.store.Probes()
	out := []IdleRule{}
	for i, r := range rules { // r.Name is set: the config derives one when none is given
		n := 0
		for _, ts := range policy.Expand(rules[i:i+1], probes, s.store.Serving) {
			n += len(ts)
		}
		if n > 0 {
			continue
		}
		from := "any site"
		if r.From.Site != "" {
			from = "site " + r.From.Site
		}
		why := fmt.Sprintf("no registered probe of %s (with its labels) measures it", from)
		if slices.ContainsFunc(probes, func(p *linkmeshv1.ProbeInfo) bool { return r.From.Site == "" || p.GetSite() == r.From.Site }) {
			why = "no target matches it: the probes it points at are not registered (or their responders are not serving)"
		}
		out = append(out, IdleRule{Rule: r.Name, Why: why})
	}
	return out
}

// plannedOnly are the paths the probes' plans hold that have no result yet:
// unknown, "no result yet".
func (s *Server) plannedOnly(snap *pathstate.Snapshot, seen map[pathstate.Key]bool) []StatusPath {
	var out []StatusPath
	for name, targets := range s.plans.Planned() {
		src, ok := snap.Probe(name)
		if !ok {
			continue
		}
		for _, t := range targets {
			k := pathstate.Key{Source: name, SourceSite: src.Info.GetSite(), Target: t.GetName(), TargetSite: t.GetSite(),
				Port: t.GetPort(), PortEnd: t.GetPortEnd(), Kind: t.GetKind()}
			if seen[k] {
				continue
			}
			seen[k] = true
			sp := StatusPath{PathStatus: PathStatus{Source: k.Source, SourceSite: k.SourceSite, Target: k.Target, TargetSite: k.TargetSite,
				Port: k.Port, PortEnd: k.PortEnd, Kind: vocab.KindName(k.Kind), State: "unknown", Results: map[string]uint64{}}}
			sp.describe(snap, k)
			if src.Up {
				sp.UnknownReason = "no result yet: planned, not measured so far"
			}
			out = append(out, sp)
		}
	}
	return out
}

// describe fills the path's id, direction, role and, when its state is
// unknown, why.
func (sp *StatusPath) describe(snap *pathstate.Snapshot, k pathstate.Key) {
	sp.ID = fmt.Sprintf("%s→%s:%s/%s", k.Source, k.Target, k.PortLabel(), vocab.KindName(k.Kind))
	sp.History = []StatusMark{}
	rp := remedy.Path{Kind: sp.Kind, SourceSite: k.SourceSite, TargetSite: k.TargetSite, Port: k.Port, PortEnd: k.PortEnd}
	sp.Direction = rp.Direction()
	sp.Role = role(sp.Direction, k)
	if sp.State != "unknown" {
		return
	}
	src, ok := snap.Probe(k.Source)
	switch {
	case !ok:
		sp.UnknownReason = fmt.Sprintf("probe %s, which measures it, is not known to this coordinator", k.Source)
	case !src.Up:
		sp.UnknownReason = fmt.Sprintf("probe %s, which measures it, is down: it has not reported", k.Source)
		if !src.LastReport.IsZero() {
			sp.UnknownReason = fmt.Sprintf("probe %s, which measures it, is down: last report %s ago", k.Source, snap.Taken.Sub(src.LastReport).Round(time.Second))
		}
	default:
		if t, ok := snap.Probe(k.Target); ok && !t.Up && t.Info.GetSite() == k.TargetSite {
			sp.UnknownReason = fmt.Sprintf("probe %s, whose responder it measures, is down", k.Target)
		} else if sp.LastResult != "" {
			sp.UnknownReason = fmt.Sprintf("probe %s restarted and has not measured it since", k.Source)
		}
	}
}

// role is the MI link's name for a path, where it has one: tcp on the link's
// ports between the sql and mi sites, echo, dns.
func role(direction string, k pathstate.Key) string {
	switch {
	case k.Kind == linkmeshv1.Kind_KIND_ECHO:
		return "echo"
	case k.Kind == linkmeshv1.Kind_KIND_DNS && direction == remedy.ToSQL:
		return "d2"
	case k.Kind == linkmeshv1.Kind_KIND_DNS:
		return "d1"
	case k.Kind != linkmeshv1.Kind_KIND_TCP:
		return ""
	case direction == remedy.ToMI && (k.PortEnd > k.Port || k.Port >= hadrLow && k.Port <= hadrHigh):
		return "p2"
	case direction == remedy.ToMI && k.Port == endpointPort:
		return "p1"
	case direction == remedy.ToSQL && k.Port == endpointPort:
		return "p3"
	}
	return ""
}

// The MI link's ports (docs/paths.md): the mirroring endpoint, and the MI
// nodes' HADR range.
const (
	endpointPort      = 5022
	hadrLow, hadrHigh = 11000, 11999
)

// statusProbe is a probe as /api/v1/status gives it.
func statusProbe(p *pathstate.ProbeState) StatusProbe {
	sp := StatusProbe{Name: p.Info.GetName(), Site: p.Info.GetSite(), Up: p.Up, Version: p.Info.GetVersion(), OS: p.Info.GetOs(),
		Gossip: string(p.Gossip), Backlog: p.Backlog, Dropped: p.DroppedTotal}
	if !p.LastReport.IsZero() {
		t := p.LastReport
		sp.LastReport = &t
	}
	if !p.CoordinatorRTTAt.IsZero() {
		sp.CoordinatorRTTMilli = ms(p.CoordinatorRTT)
	}
	if len(p.MemberRTTs) > 0 {
		sp.MemberRTTMilli = map[string]float64{}
		for m, r := range p.MemberRTTs {
			sp.MemberRTTMilli[m] = ms(r.RTT)
		}
	}
	return sp
}
