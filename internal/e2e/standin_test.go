package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// startKeyedMesh runs a coordinator with policy and probes sql1 and mi1 that
// share a mesh key, all in this process on loopback, until the test ends.
// standInPorts are the probes' --stand-in-ports (none: 5022).
func startKeyedMesh(t *testing.T, policy string, standInPorts ...uint32) *coordinator.Server {
	t.Helper()
	cfg, err := config.Parse("e2e.yaml", []byte("listen: {grpc: \"127.0.0.1:0\", http: \"127.0.0.1:0\"}\ngossip: {disabled: true}\n"+policy))
	if err != nil {
		t.Fatal(err)
	}
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 3)
	go func() { done <- coord.Run(ctx) }()
	for _, site := range []string{"sql", "mi"} {
		a, err := probe.New(probe.Config{
			Name: site + "1", Site: site, Coordinators: []string{coord.GRPCAddr().String()},
			Creds: insecure.NewCredentials(), Responder: "127.0.0.1:0", BufferSize: 1000, MeshKey: key,
			StandInPorts: standInPorts,
		}, logger.With("probe", site+"1"))
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- a.Run(ctx) }()
	}
	t.Cleanup(func() {
		stopComponents(t, cancel, done, 3)
	})
	return coord
}

// TestStandInThroughCoordinator: an echo rule to port P of the SQL Server
// host measures the real endpoint with tcp until the coordinator asks the sql
// probe for a stand-in on P; then the probe serves the responder protocol on P
// and the same rule proves the path with echo. A port another program holds
// is left alone, reported as taken, and stays measured with tcp.
func TestStandInThroughCoordinator(t *testing.T) {
	free, taken := freePort(t), freePort(t)
	holder, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(taken))) // the "mirroring endpoint"
	if err != nil {
		t.Fatal(err)
	}
	defer holdConns(holder)()
	coord := startKeyedMesh(t, fmt.Sprintf(`
defaults: {interval: 200ms, timeout: 1s}
paths:
  - {name: p3-free, from: {site: mi}, to: {site: sql, port: %d}, kind: echo, interval: 1s}
  - {name: p3-taken, from: {site: mi}, to: {site: sql, port: %d}, kind: echo, interval: 1s}
`, free, taken), uint32(free), uint32(taken))
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	freeLabels := []string{"source", "mi1", "target", "sql1", "port", strconv.Itoa(free)}
	takenLabels := []string{"source", "mi1", "target", "sql1", "port", strconv.Itoa(taken)}

	waitMetrics(t, url, 10*time.Second, "before any stand-in: tcp to both ports (refused on the free one)", func(s series) bool {
		return s.has("linkmesh_path_probes_total", append(freeLabels, "kind", "tcp", "result", "refused")...) &&
			s.has("linkmesh_path_probes_total", append(takenLabels, "kind", "tcp", "result", "ok")...)
	})
	for _, port := range []int{free, taken} {
		if err := coord.RequestStandIn(t.Context(), "sql1", uint32(port), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	waitMetrics(t, url, 15*time.Second, "echo through the stand-in on the free port", func(s series) bool {
		v, ok := s.one("linkmesh_path_up", append(freeLabels, "kind", "echo")...)
		return ok && v == 1
	})
	var body struct {
		StandIns []coordinator.StandInStatus `json:"stand_ins"`
	}
	resp, err := http.Get("http://" + coord.HTTPAddr().String() + "/api/v1/paths")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	states := map[int]string{}
	for _, st := range body.StandIns {
		states[int(st.Port)] = st.State
	}
	if states[free] != "serving" || states[taken] != "port_taken" {
		t.Errorf("stand-ins %+v: want %d serving and %d port_taken", body.StandIns, free, taken)
	}
	s := scrapeOrFail(t, url)
	if s.has("linkmesh_path_up", append(takenLabels, "kind", "echo")...) {
		t.Errorf("the taken port got an echo path; it must stay tcp")
	}
	if err := coord.RequestStandIn(t.Context(), "sql1", 0, time.Minute); err == nil {
		t.Error("a stand-in on port 0 was accepted")
	}
	if err := coord.RequestStandIn(t.Context(), "nobody", uint32(free), time.Minute); err == nil {
		t.Error("a stand-in on an unknown probe was accepted")
	}
}

// has reports whether a series of name matching kv has a positive value.
func (s series) has(name string, kv ...string) bool {
	for k, v := range s.find(name, kv...) {
		if v > 0 || name == "linkmesh_path_up" && k != "" {
			return true
		}
	}
	return false
}

func scrapeOrFail(t *testing.T, url string) series {
	t.Helper()
	s, err := scrape(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
