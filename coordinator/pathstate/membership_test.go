package pathstate

import (
	"errors"
	"slices"
	"strings"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestValidateMember: gossip members are checked with Register's rules; one
// that gossips only its name (today's probes) by its name alone.
func TestValidateMember(t *testing.T) {
	for _, tt := range []struct {
		info   *linkmeshv1.ProbeInfo
		reason string
	}{
		{&linkmeshv1.ProbeInfo{Name: "sql1"}, ""},
		{&linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", ResponderAddress: "198.18.0.1:5023"}, ""},
		{&linkmeshv1.ProbeInfo{Name: "bad name"}, RejectName},
		{&linkmeshv1.ProbeInfo{Name: "coordinator:c1"}, RejectName},
		{&linkmeshv1.ProbeInfo{Name: strings.Repeat("a", 64)}, RejectName},
		{&linkmeshv1.ProbeInfo{Name: "fake1", Site: "my site"}, RejectMetadata},
		{&linkmeshv1.ProbeInfo{Name: "fake1", ResponderAddress: "198.18.0.1"}, RejectMetadata}, // and no site
		{&linkmeshv1.ProbeInfo{Name: "fake1", Site: "mi", ResponderAddress: "198.18.0.1:0"}, RejectMetadata},
	} {
		reason, err := ValidateMember(tt.info)
		if reason != tt.reason || (err == nil) != (tt.reason == "") {
			t.Errorf("%v: got %q, %v; want %q", tt.info, reason, err, tt.reason)
		}
	}
}

// TestSetMembersGossipOnly: gossip alone makes no probe: a member that
// describes itself as a probe but never registered is not stored, is not
// among Probes (the plans' input), is reported as unregistered, and does not
// count against MaxProbes; a registered probe takes its gossip state but keeps
// its own description.
func TestSetMembersGossipOnly(t *testing.T) {
	s := New(newClock().Now)
	s.SetLimits(Limits{MaxProbes: 2})
	if _, err := s.TryRegister(probeInfo("sql1", "sql", 1)); err != nil {
		t.Fatal(err)
	}
	changed := s.Changed()
	unreg := s.SetMembers([]Member{
		{Info: &linkmeshv1.ProbeInfo{Name: "sql1", Site: "forged", ResponderAddress: "198.18.9.9:1"}, State: GossipAlive},
		{Info: &linkmeshv1.ProbeInfo{Name: "fake1", Site: "mi", ResponderAddress: "198.18.9.9:1"}, State: GossipAlive},
		{Info: &linkmeshv1.ProbeInfo{Name: "fake2", Site: "mi", ResponderAddress: "198.18.9.9:1"}, State: GossipAlive},
		{Info: &linkmeshv1.ProbeInfo{Name: "mi1"}, State: GossipAlive}, // a probe that has not registered yet
	})
	if want := []string{"fake1", "fake2"}; !slices.Equal(unreg, want) {
		t.Errorf("unregistered: %v, want %v", unreg, want)
	}
	select {
	case <-changed:
	default:
		t.Error("sql1's gossip state changed but the plans were not woken")
	}
	if got := s.Probes(); len(got) != 1 || got[0].GetName() != "sql1" || got[0].GetSite() != "sql" {
		t.Errorf("Probes: %v, want sql1 of site sql only", got)
	}
	if p, _ := s.Lookup("sql1"); p.Gossip != GossipAlive || p.Info.GetResponderAddress() == "198.18.9.9:1" {
		t.Errorf("sql1: gossip %q, responder %q; want alive, its own responder", p.Gossip, p.Info.GetResponderAddress())
	}
	if _, ok := s.Lookup("fake1"); ok {
		t.Error("the gossip-only member fake1 is stored")
	}
	if _, err := s.TryRegister(probeInfo("mi1", "mi", 1)); err != nil {
		t.Errorf("mi1 registers as the second of max_probes 2: %v", err)
	}
	if _, err := s.TryRegister(probeInfo("mi2", "mi", 1)); !errors.Is(err, ErrTooManyProbes) {
		t.Errorf("a third probe: got %v, want ErrTooManyProbes", err)
	}
}
