package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// TestPortRangeInProcess: a range of 8 loopback ports where only one listens, as
// on an MI node (11000-11999, one HADR port open): with refused_ok the path is up
// because every port answered; results by port are counted on the one path
// labelled with the range.
func TestPortRangeInProcess(t *testing.T) {
	// Find 8 consecutive free ports and listen on the third.
	var lo int
	var lis net.Listener
	for try := 0; try < 50 && lis == nil; try++ {
		base := 30000 + try*97
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+2))
		if err != nil {
			continue
		}
		free := true
		for p := base; p < base+8 && free; p++ {
			if p == base+2 {
				continue
			}
			c, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				free = false
				continue
			}
			c.Close()
		}
		if free {
			lo, lis = base, l
		} else {
			l.Close()
		}
	}
	if lis == nil {
		t.Skip("no 8 consecutive free loopback ports")
	}
	defer holdConns(lis)()
	cfg, err := config.Parse("range.yaml", fmt.Appendf(nil, `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 300ms, timeout: 100ms}
paths:
  - {from: {site: sql}, to: {address: 127.0.0.1, ports: "%d-%d", sample: 3, site: mi, name: mi-node}}
`, lo, lo+7))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { done <- coord.Run(ctx) }()
	a, err := probe.New(probe.Config{Name: "sql1", Site: "sql", Coordinators: []string{coord.GRPCAddr().String()},
		Creds: insecure.NewCredentials(), BufferSize: 1000}, logger)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done; <-done }()

	rangeLabel := fmt.Sprintf("%d-%d", lo, lo+7)
	url := "http://" + coord.HTTPAddr().String() + "/metrics"
	s, _ := waitMetrics(t, url, 15*time.Second, "the range path up with ok and refused attempts", func(s series) bool {
		up, ok := s.one("linkmesh_path_up", "source", "sql1", "port", rangeLabel)
		okN, _ := s.one("linkmesh_path_probes_total", "port", rangeLabel, "result", "ok")
		refused, _ := s.one("linkmesh_path_probes_total", "port", rangeLabel, "result", "refused")
		return ok && up == 1 && okN >= 1 && refused >= 3
	})
	if n := len(s.find("linkmesh_path_up", "source", "sql1")); n != 1 {
		t.Errorf("%d linkmesh_path_up series for the range, want 1 (one path per range, not per port)", n)
	}
}
