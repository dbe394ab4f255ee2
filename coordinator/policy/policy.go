// Package policy expands the coordinator's path policy over the probes it knows into
// one plan per probe: which targets that probe measures, with which kind, how often.
package policy

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/linkmesh/linkmesh/coordinator/config"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Serving reports whether a probe serves a stand-in endpoint on a port of its
// host (the coordinator knows it from the probes' reports); nil means none does.
type Serving func(probe string, port uint32) bool

// Expand returns, for every probe, the targets the rules give it, sorted by id. A
// probe never measures itself; when two rules give a probe the same target (name,
// port and kind), the first rule wins. Probes without a usable responder address
// are not targets of site rules.
//
// An echo rule that names a port of the target probes' hosts (e.g. 5022) means
// "through the stand-in": it is an echo target while the target probe serves a
// stand-in on that port, and a tcp target (the real endpoint, measured politely)
// while it does not.
func Expand(rules []config.Rule, probes []*linkmeshv1.ProbeInfo, serving Serving) map[string][]*linkmeshv1.Target {
	plans := make(map[string][]*linkmeshv1.Target, len(probes))
	for _, src := range probes {
		seen := map[string]bool{}
		var targets []*linkmeshv1.Target
		for _, r := range rules {
			if !matches(r.From.Site, r.From.Labels, src) {
				continue
			}
			for _, t := range destinations(r, src, probes, serving) {
				dedup := fmt.Sprintf("%s|%d-%d|%d", t.GetName(), t.GetPort(), t.GetPortEnd(), t.GetKind())
				if seen[dedup] {
					continue
				}
				seen[dedup] = true
				targets = append(targets, t)
			}
		}
		sort.Slice(targets, func(i, j int) bool { return targets[i].GetId() < targets[j].GetId() })
		plans[src.GetName()] = targets
	}
	return plans
}

func destinations(r config.Rule, src *linkmeshv1.ProbeInfo, probes []*linkmeshv1.ProbeInfo, serving Serving) []*linkmeshv1.Target {
	if r.To.Address != "" {
		return []*linkmeshv1.Target{target(r, r.Kind, r.To.Name, r.To.Site, r.To.Address, uint32(r.To.Port))}
	}
	// For probe targets the rule's port (or range) replaces the responder port.
	var out []*linkmeshv1.Target
	for _, dst := range probes {
		if dst.GetName() == src.GetName() || !matches(r.To.Site, r.To.Labels, dst) {
			continue
		}
		host, portStr, err := net.SplitHostPort(dst.GetResponderAddress())
		if err != nil || host == "" {
			continue
		}
		port, _ := strconv.Atoi(portStr)
		kind := r.Kind
		if r.To.Port != 0 {
			port = r.To.Port
			if kind == "echo" && (serving == nil || !serving(dst.GetName(), uint32(port))) {
				kind = "tcp" // no stand-in there: the real endpoint, connect only
			}
		}
		out = append(out, target(r, kind, dst.GetName(), dst.GetSite(), host, uint32(port)))
	}
	return out
}

func target(r config.Rule, kind, name, site, host string, port uint32) *linkmeshv1.Target {
	portID := strconv.Itoa(int(port))
	if r.To.PortEnd != 0 {
		portID += "-" + strconv.Itoa(r.To.PortEnd)
	}
	t := &linkmeshv1.Target{
		Id:             fmt.Sprintf("%s/%s:%s/%s", r.Name, name, portID, kind),
		PortEnd:        uint32(r.To.PortEnd),
		Sample:         uint32(r.To.Sample),
		RefusedIsReach: r.To.RefusedOK != nil && *r.To.RefusedOK,
		Kind:           kindOf(kind),
		Host:           host,
		Port:           port,
		Name:           name,
		Site:           site,
		Interval:       durationpb.New(r.Interval),
		Timeout:        durationpb.New(r.Timeout),
		Rule:           r.Name,
	}
	switch {
	case kind == "echo" && r.Echo != nil:
		e := r.Echo
		t.Echo = &linkmeshv1.EchoOptions{Rounds: uint32(e.Rounds)}
		if e.MTUEvery != nil {
			t.Echo.MtuEvery = config.Every(*e.MTUEvery, r.Interval)
		}
		if e.BurstBytes > 0 {
			t.Echo.BurstBytes = uint64(e.BurstBytes)
			t.Echo.BurstEvery = config.Every(e.BurstEvery, r.Interval)
			t.Echo.BurstMaxTime = durationpb.New(e.BurstTime)
		}
	case kind == "dns" && r.DNS != nil:
		t.Dns = &linkmeshv1.DNSOptions{ExpectCidrs: append([]string(nil), r.DNS.ExpectCIDRs...)}
	}
	return t
}

// matches reports whether a probe has the site (if given) and every label.
func matches(site string, labels map[string]string, p *linkmeshv1.ProbeInfo) bool {
	if site != "" && p.GetSite() != site {
		return false
	}
	for k, v := range labels {
		if p.GetLabels()[k] != v {
			return false
		}
	}
	return true
}

// kindOf maps a config kind name to the API's Kind (the config validated it).
func kindOf(name string) linkmeshv1.Kind {
	k, _ := vocab.ParseKind(name)
	return k
}

// Count returns how many paths the rules expand to over the probes.
func Count(rules []config.Rule, probes []*linkmeshv1.ProbeInfo) int {
	n := 0
	for _, targets := range Expand(rules, probes, nil) { // stand-ins change kinds, not counts
		n += len(targets)
	}
	return n
}
