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
	"google.golang.org/protobuf/types/known/durationpb"
)

// Expand returns, for every probe, the targets the rules give it, sorted by id. A
// probe never measures itself; when two rules give a probe the same target (name,
// port and kind), the first rule wins. Probes without a usable responder address
// are not targets of site rules.
func Expand(rules []config.Rule, probes []*linkmeshv1.ProbeInfo) map[string][]*linkmeshv1.Target {
	plans := make(map[string][]*linkmeshv1.Target, len(probes))
	for _, src := range probes {
		seen := map[string]bool{}
		var targets []*linkmeshv1.Target
		for _, r := range rules {
			if !matches(r.From.Site, r.From.Labels, src) {
				continue
			}
			for _, t := range destinations(r, src, probes) {
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

func destinations(r config.Rule, src *linkmeshv1.ProbeInfo, probes []*linkmeshv1.ProbeInfo) []*linkmeshv1.Target {
	kind := kindOf(r.Kind)
	if r.To.Address != "" {
		return []*linkmeshv1.Target{target(r, kind, r.To.Name, r.To.Site, r.To.Address, uint32(r.To.Port))}
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
		if r.To.Port != 0 {
			port = r.To.Port
		}
		out = append(out, target(r, kind, dst.GetName(), dst.GetSite(), host, uint32(port)))
	}
	return out
}

func target(r config.Rule, kind linkmeshv1.Kind, name, site, host string, port uint32) *linkmeshv1.Target {
	portID := strconv.Itoa(int(port))
	if r.To.PortEnd != 0 {
		portID += "-" + strconv.Itoa(r.To.PortEnd)
	}
	return &linkmeshv1.Target{
		Id:             fmt.Sprintf("%s/%s:%s/%s", r.Name, name, portID, r.Kind),
		PortEnd:        uint32(r.To.PortEnd),
		Sample:         uint32(r.To.Sample),
		RefusedIsReach: r.To.RefusedOK != nil && *r.To.RefusedOK,
		Kind:           kind,
		Host:           host,
		Port:           port,
		Name:           name,
		Site:           site,
		Interval:       durationpb.New(r.Interval),
		Timeout:        durationpb.New(r.Timeout),
		Rule:           r.Name,
	}
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

// kindOf maps a config kind name to the API's Kind.
func kindOf(name string) linkmeshv1.Kind {
	switch name {
	case "tcp":
		return linkmeshv1.Kind_KIND_TCP
	case "echo":
		return linkmeshv1.Kind_KIND_ECHO
	case "dns":
		return linkmeshv1.Kind_KIND_DNS
	}
	return linkmeshv1.Kind_KIND_UNSPECIFIED
}

// Count returns how many paths the rules expand to over the probes.
func Count(rules []config.Rule, probes []*linkmeshv1.ProbeInfo) int {
	n := 0
	for _, targets := range Expand(rules, probes) {
		n += len(targets)
	}
	return n
}
