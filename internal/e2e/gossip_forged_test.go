package e2e

import (
	"context"
	"fmt"
	"io"
	"log"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/probe"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/credentials/insecure"
)

// These tests play a holder of the mesh key (no certificate) who joins gossip
// with forged members, using memberlist itself as a real member would, against
// a coordinator and two real probes on loopback. Gossip is input, not truth:
// see docs/security.md.

// gossipMesh is a coordinator with gossip and the mesh key, and what the
// tests need of it.
type gossipMesh struct {
	t     *testing.T
	ctx   context.Context
	key   []byte
	coord *coordinator.Server
	url   string
}

// startGossipMesh runs a coordinator (gossip on, policy sql ↔ mi) with extra
// config lines until the test ends.
func startGossipMesh(t *testing.T, extra string) *gossipMesh {
	t.Helper()
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("gossip.yaml", []byte(`
name: c1
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {bind: "127.0.0.1:0", profile: local}
defaults: {interval: 200ms, timeout: 150ms}
stale_after: 10s
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`+extra))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coord, err := coordinator.New(cfg, coordinator.Options{MeshKey: key}, testLogger(t).With("component", "coordinator"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- coord.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("coordinator Run: %v", err)
		}
	})
	return &gossipMesh{t: t, ctx: ctx, key: key, coord: coord, url: "http://" + coord.HTTPAddr().String() + "/metrics"}
}

// probe runs a real probe that reports to the coordinator and joins gossip,
// until the test ends.
func (m *gossipMesh) probe(name, site string) {
	m.t.Helper()
	a, err := probe.New(probe.Config{
		Name: name, Site: site, Creds: insecure.NewCredentials(), Responder: "127.0.0.1:0", BufferSize: 1000,
		Coordinators: []string{m.coord.GRPCAddr().String()},
		Gossip:       &probe.GossipConfig{Bind: "127.0.0.1:0", Join: []string{m.coord.GossipAddr()}, Profile: "local"},
		MeshKey:      m.key,
	}, testLogger(m.t).With("probe", name))
	if err != nil {
		m.t.Fatal(err)
	}
	ctx, stop := context.WithCancel(m.ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	m.t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			m.t.Errorf("probe %s Run: %v", name, err)
		}
	})
}

// forge joins a member named name to the mesh with the mesh key, gossiping
// meta as its linkmesh metadata (nil: none, as today's probes), until the test
// ends. It answers pings like any member.
func (m *gossipMesh) forge(name string, meta []byte) {
	m.t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name = name
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = "127.0.0.1", 0, 0
	kr, err := memberlist.NewKeyring(nil, m.key)
	if err != nil {
		m.t.Fatal(err)
	}
	mc.Keyring, mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = kr, true, true
	mc.Delegate = forgedMeta(meta)
	mc.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { _ = ml.Shutdown() })
	if _, err := ml.Join([]string{m.coord.GossipAddr()}); err != nil {
		m.t.Fatalf("forged member %q: join: %v", name, err)
	}
}

// forgedMeta is a memberlist delegate that gossips fixed metadata.
type forgedMeta []byte

func (f forgedMeta) NodeMeta(int) []byte                  { return f }
func (forgedMeta) NotifyMsg([]byte)                       {}
func (forgedMeta) GetBroadcasts(int, int) [][]byte        { return nil }
func (forgedMeta) LocalState(bool) []byte                 { return nil }
func (forgedMeta) MergeRemoteState(buf []byte, join bool) {}

// probeMeta is the wire metadata a member describing itself as a probe would
// gossip (internal/gossip's wireMeta).
func probeMeta(site, responder string) []byte {
	return fmt.Appendf(nil, `{"r":"p","s":%q,"p":%q}`, site, responder)
}

// counter reads an unlabelled counter, or a labelled one's series.
func counter(s series, name string, kv ...string) float64 {
	v, _ := s.one(name, kv...)
	return v
}

// bothPathsUp: sql1 → mi1 and mi1 → sql1 read up.
func bothPathsUp(s series) bool {
	a, okA := s.one("linkmesh_path_up", "source", "sql1", "target", "mi1")
	b, okB := s.one("linkmesh_path_up", "source", "mi1", "target", "sql1")
	return okA && okB && a == 1 && b == 1
}

// TestGossipForgedMemberBadName: a mesh-key holder joins members with a bad
// name ("bad name") and with a bad site in their metadata. The coordinator
// drops and counts them, the probes' reports (which carry their round trips to
// the forged member) are still counted — the bad entries dropped and counted —
// and no report is refused. It used to refuse every probe's whole report.
func TestGossipForgedMemberBadName(t *testing.T) {
	m := startGossipMesh(t, "")
	m.probe("sql1", "sql")
	m.probe("mi1", "mi")
	waitMetrics(t, m.url, 20*time.Second, "both directions up", bothPathsUp)

	m.forge("bad name", nil)
	m.forge("fake-meta", probeMeta("my site", "127.0.0.1:1"))
	s, _ := waitMetrics(t, m.url, 20*time.Second, "the forged members refused and the probes' round trips to them dropped", func(s series) bool {
		return counter(s, "linkmesh_coordinator_gossip_members_rejected_total", "reason", "name") >= 1 &&
			counter(s, "linkmesh_coordinator_gossip_members_rejected_total", "reason", "metadata") >= 1 &&
			counter(s, "linkmesh_coordinator_member_rtts_dropped_total", "reason", "name") >= 2 // from both probes, or twice from one
	})
	before := counter(s, "linkmesh_coordinator_results_ingested_total")
	s, _ = waitMetrics(t, m.url, 20*time.Second, "results still counted after the forged members joined", func(s series) bool {
		return counter(s, "linkmesh_coordinator_results_ingested_total") >= before+20 && bothPathsUp(s)
	})
	if n := counter(s, "linkmesh_coordinator_requests_rejected_total", "reason", "invalid"); n != 0 {
		t.Errorf("requests rejected as invalid: %v, want 0 (a bad gossip member must not make reports invalid)", n)
	}
	for _, name := range []string{"bad name", "fake-meta"} {
		if len(s.find("linkmesh_probe_up", "probe", name))+len(s.find("linkmesh_path_probes_total", "target", name)) > 0 {
			t.Errorf("forged member %q appears in the probe or path metrics", name)
		}
	}
	if len(s.find("linkmesh_member_rtt_seconds", "target", "bad name")) > 0 {
		t.Error("a round trip to the forged member \"bad name\" is exported")
	}
}

// TestGossipFakeMemberNotTarget: a forged member with a valid name that
// describes itself as a probe of site mi with a responder at any address
// never becomes a measurement target: it is not a probe the plans see, no
// path leads to it, and it is counted as unregistered.
func TestGossipFakeMemberNotTarget(t *testing.T) {
	m := startGossipMesh(t, "")
	m.probe("sql1", "sql")
	m.probe("mi1", "mi")
	waitMetrics(t, m.url, 20*time.Second, "both directions up", bothPathsUp)

	m.forge("fake1", probeMeta("mi", "127.0.0.1:1"))
	s, _ := waitMetrics(t, m.url, 20*time.Second, "the fake member seen and counted as unregistered", func(s series) bool {
		return counter(s, "linkmesh_coordinator_gossip_members_rejected_total", "reason", "unregistered") >= 1
	})
	before := counter(s, "linkmesh_coordinator_results_ingested_total")
	s, _ = waitMetrics(t, m.url, 20*time.Second, "the probes went on measuring", func(s series) bool {
		return counter(s, "linkmesh_coordinator_results_ingested_total") >= before+20
	})
	if slices.ContainsFunc(m.coord.Store().Probes(), func(p *linkmeshv1.ProbeInfo) bool { return p.GetName() == "fake1" }) {
		t.Error("the fake member is among the probes plans are built from")
	}
	if got := s.find("linkmesh_path_probes_total", "target", "fake1"); len(got) > 0 {
		t.Errorf("paths to the fake member were measured: %v", got)
	}
	if _, ok := m.coord.Store().Lookup("fake1"); ok {
		t.Error("the store keeps the gossip-only member fake1")
	}
}

// TestGossipMembersDoNotExhaustMaxProbes: with limits.max_probes 2, three
// forged members that describe themselves as probes join first; the two real
// probes still register, and both directions come up. They used to be refused
// (the forged members filled max_probes).
func TestGossipMembersDoNotExhaustMaxProbes(t *testing.T) {
	m := startGossipMesh(t, "limits: {max_probes: 2}\n")
	for i := range 3 {
		m.forge(fmt.Sprintf("fake%d", i), probeMeta("mi", "127.0.0.1:1"))
	}
	waitMetrics(t, m.url, 20*time.Second, "the three fake members seen", func(s series) bool {
		return counter(s, "linkmesh_coordinator_gossip_members_rejected_total", "reason", "unregistered") >= 3
	})
	m.probe("sql1", "sql")
	m.probe("mi1", "mi")
	s, _ := waitMetrics(t, m.url, 20*time.Second, "both real probes registered and measuring", bothPathsUp)
	if got := s.find("linkmesh_probe_up"); len(got) != 2 {
		t.Errorf("probes known: %v, want sql1 and mi1 only", got)
	}
}
