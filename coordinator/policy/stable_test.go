package policy

import (
	"slices"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// TestExpandStable: the plan does not depend on the order probes are listed in,
// and every id is unique and sorted.
func TestExpandStable(t *testing.T) {
	rs := rules(t, `
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
  - {from: {site: mi}, to: {site: sql, port: 5022}}
  - {from: {site: sql}, to: {address: mi1.example.net, port: 5022, site: mi}}
`)
	want := Expand(rs, mesh, nil)
	reversed := slices.Clone(mesh)
	slices.Reverse(reversed)
	rotated := append(slices.Clone(mesh[3:]), mesh[:3]...)
	for _, order := range [][]*linkmeshv1.ProbeInfo{reversed, rotated, mesh} {
		got := Expand(rs, order, nil)
		if len(got) != len(want) {
			t.Fatalf("plans: got %d, want %d", len(got), len(want))
		}
		for name, targets := range want {
			if !equalTargets(got[name], targets) {
				t.Errorf("plan for %s differs with probes in another order:\ngot  %v\nwant %v", name, got[name], targets)
			}
		}
	}
	for name, targets := range want {
		ids := make([]string, len(targets))
		for i, tg := range targets {
			ids[i] = tg.GetId()
		}
		if !slices.IsSorted(ids) {
			t.Errorf("plan for %s: ids %v, want sorted", name, ids)
		}
		if len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Errorf("plan for %s: ids %v, want unique", name, ids)
		}
	}
}

// TestExpandIDKeepsAcrossMembership: a target's id and definition do not change
// when other probes join, so the probe's scheduler keeps it running.
func TestExpandIDKeepsAcrossMembership(t *testing.T) {
	rs := rules(t, `
paths:
  - {from: {site: sql}, to: {site: mi}}
`)
	before := Expand(rs, mesh[:3], nil)["sql01"]
	after := Expand(rs, append(slices.Clone(mesh[:3]), probe("mi00", "mi", "10.1.0.100:5023")), nil)["sql01"]
	if len(before) != 1 || len(after) != 2 {
		t.Fatalf("targets: got %d then %d, want 1 then 2", len(before), len(after))
	}
	var kept *linkmeshv1.Target
	for _, tg := range after {
		if tg.GetId() == before[0].GetId() {
			kept = tg
		}
	}
	if kept == nil || !proto.Equal(kept, before[0]) {
		t.Errorf("target %s after mi00 joined: got %v, want %v", before[0].GetId(), kept, before[0])
	}
}

func TestExpandDoesNotModifyProbes(t *testing.T) {
	rs := rules(t, `
paths:
  - {from: {site: sql}, to: {site: mi, port: 5022}}
`)
	probes := make([]*linkmeshv1.ProbeInfo, len(mesh))
	for i, p := range mesh {
		probes[i] = proto.Clone(p).(*linkmeshv1.ProbeInfo)
	}
	Expand(rs, probes, nil)
	for i := range mesh {
		if !proto.Equal(probes[i], mesh[i]) {
			t.Errorf("probe %d: got %v after Expand, want %v", i, probes[i], mesh[i])
		}
	}
}

func equalTargets(a, b []*linkmeshv1.Target) bool {
	return slices.EqualFunc(a, b, func(x, y *linkmeshv1.Target) bool { return proto.Equal(x, y) })
}
