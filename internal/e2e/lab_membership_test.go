//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// TestLabKilledProbeIsUnknownNotDown: kill -9 of the mi probe makes its paths, and
// the paths to its responder, unknown (no linkmesh_path_up sample) — no scrape may
// show them as 0 — and linkmesh_probe_up{probe="mi1"} 0; the path to the mi host's
// port 5022 (not the probe's) keeps being measured. Restarting the probe brings
// everything back with no operator action.
func TestLabKilledProbeIsUnknownNotDown(t *testing.T) {
	lab := netlab.New(t)
	m := newLabMesh(t, lab, labPolicy)
	allUp := func(s series) bool {
		for _, p := range labPaths {
			if v, ok := upValue(s, p.src, p.dst, p.port); !ok || v != 1 {
				return false
			}
		}
		return true
	}
	m.wait(t, 20*time.Second, "all four paths up", allUp)

	pid := m.probes["mi"].Process.Pid
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// Scrape often through the transition: the mi paths must go from 1 to absent.
	var sawZero []string
	s, took := m.wait(t, 30*time.Second, "mi1 down and its paths unknown", func(s series) bool {
		for _, p := range []labPath{{"mi1", "sql1", labEndpoint}, {"mi1", "sql1", labResponder}, {"sql1", "mi1", labResponder}} {
			if v, ok := upValue(s, p.src, p.dst, p.port); ok && v == 0 {
				sawZero = append(sawZero, p.String())
			}
		}
		up, ok := s.one("linkmesh_probe_up", "probe", "mi1")
		_, a := upValue(s, "mi1", "sql1", labEndpoint)
		_, b := upValue(s, "mi1", "sql1", labResponder)
		_, c := upValue(s, "sql1", "mi1", labResponder)
		return ok && up == 0 && !a && !b && !c
	})
	if len(sawZero) > 0 {
		t.Errorf("paths read 0 (down) after the probe was killed, want them unknown: %v", sawZero)
	}
	if v, ok := upValue(s, "sql1", "mi1", labEndpoint); !ok || v != 1 {
		t.Errorf("sql1→mi1:5022 (the mi host's listener, not the probe) = %v (present %v), want 1", v, ok)
	}
	report(t, "", fmt.Sprintf("kill -9 of a probe → linkmesh_probe_up 0 and its paths unknown: %.1f s", took.Seconds()))

	m.startProbe(t, "mi")
	_, back := m.wait(t, 30*time.Second, "the restarted mi probe and its paths back", func(s series) bool {
		up, ok := s.one("linkmesh_probe_up", "probe", "mi1")
		return ok && up == 1 && allUp(s)
	})
	report(t, fmt.Sprintf("restart of that probe → all its paths up again: %.1f s (killed %.1f s before)", back.Seconds(), time.Since(killed).Seconds()))
}

// TestLabGossipCutBetweenSitesKeepsPathsOK: gossip (TCP and UDP 7946) dropped
// between sql and mi, 5022 and 5023 untouched: every path stays ok and both probes
// stay up — the coordinator still reaches both, and memberlist's indirect pings
// through it keep the two probes from declaring each other dead.
func TestLabGossipCutBetweenSitesKeepsPathsOK(t *testing.T) {
	lab := netlab.New(t)
	m := newLabMesh(t, lab, labPolicy)
	m.wait(t, 20*time.Second, "all four paths up", func(s series) bool {
		for _, p := range labPaths {
			if v, ok := upValue(s, p.src, p.dst, p.port); !ok || v != 1 {
				return false
			}
		}
		return true
	})
	var faults []netlab.Fault
	for _, proto := range []string{"tcp", "udp"} {
		for _, dir := range [][2]string{{"sql", "mi"}, {"mi", "sql"}} {
			faults = append(faults, netlab.Fault{Kind: netlab.Drop, Proto: proto, From: dir[0], To: dir[1], Port: 7946})
		}
	}
	inj, err := lab.Inject(faults...)
	if err != nil {
		t.Fatal(err)
	}
	defer inj.Remove()
	before := m.scrape(t)
	// Long enough for memberlist (WAN timing: 5 s probe interval) to have tried
	// direct pings across the cut several times: real time, real processes.
	time.Sleep(25 * time.Second)
	during := m.scrape(t)
	for _, p := range labPaths {
		if v, ok := upValue(during, p.src, p.dst, p.port); !ok || v != 1 {
			t.Errorf("%s: linkmesh_path_up %v (present %v) with gossip cut between sites, want 1", p, v, ok)
		}
		if f0, f1 := failures(before, p.src, p.dst, p.port), failures(during, p.src, p.dst, p.port); f1 != f0 {
			t.Errorf("%s: %v failed attempts during the gossip cut", p, f1-f0)
		}
	}
	for _, probe := range []string{"sql1", "mi1"} {
		if v, _ := during.one("linkmesh_probe_up", "probe", probe); v != 1 {
			t.Errorf("linkmesh_probe_up{probe=%q} = %v during the gossip cut, want 1", probe, v)
		}
		if v, ok := during.one("linkmesh_probe_gossip_alive", "probe", probe); !ok || v != 1 {
			t.Errorf("linkmesh_probe_gossip_alive{probe=%q} = %v (present %v), want 1: the coordinator reaches it", probe, v, ok)
		}
	}
	var rtts []string
	for k := range during.find("linkmesh_member_rtt_seconds") {
		rtts = append(rtts, k)
	}
	t.Logf("member RTT series during the cut: %s", strings.Join(rtts, ", "))
}
