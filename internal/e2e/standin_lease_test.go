package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// lockedLog is a log sink safe for concurrent writers.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStandInLeaseExpiresWhenCoordinatorDies: a check round asks the sql
// probe for a stand-in; the coordinator stops in the middle of the round, so
// no plan ever withdraws the stand-in. The probe releases the port within the
// lease (2 s here; 30 s by default) after the last renewal, rather than at
// the round's time budget (minutes), and logs it once.
func TestStandInLeaseExpiresWhenCoordinatorDies(t *testing.T) {
	const lease = 2 * time.Second
	port, held := freePort(t), freePort(t)
	cfg, err := config.Parse("e2e.yaml", []byte("listen: {grpc: \"127.0.0.1:0\", http: \"127.0.0.1:0\"}\ngossip: {disabled: true}\n"+
		"check_rounds: {sql_ports: ["+strconv.Itoa(port)+"]}\n"+
		"paths:\n  - {name: echo, from: {site: mi}, to: {site: sql}, kind: echo, interval: 1s, timeout: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true, StandInLease: lease}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	coordCtx, stopCoord := context.WithCancel(context.Background())
	coordDone := make(chan error, 1)
	go func() { coordDone <- coord.Run(coordCtx) }()
	defer stopCoord()

	probesCtx, stopProbes := context.WithCancel(context.Background())
	probesDone := make(chan error, 2)
	defer stopComponents(t, stopProbes, probesDone, 2)
	sqlLogs := &lockedLog{}
	for _, site := range []string{"sql", "mi"} {
		plog := logger.With("probe", site+"1")
		if site == "sql" {
			plog = slog.New(slog.NewTextHandler(io.MultiWriter(tWriter{t}, sqlLogs), nil)).With("probe", "sql1")
		}
		a, err := probe.New(probe.Config{
			Name: site + "1", Site: site, Coordinators: []string{coord.GRPCAddr().String()},
			Creds: insecure.NewCredentials(), Responder: "127.0.0.1:0", BufferSize: 1000, MeshKey: key,
			StandInPorts: []uint32{uint32(port), uint32(held)},
		}, plog)
		if err != nil {
			t.Fatal(err)
		}
		go func() { probesDone <- a.Run(probesCtx) }()
	}

	// A stand-in asked directly (no round) outlives several leases while the
	// coordinator renews it.
	waitfor.Cond(t, 15*time.Second, "sql1 registered", func() bool {
		return coord.RequestStandIn(t.Context(), "sql1", uint32(held), time.Minute) == nil
	})
	waitfor.Cond(t, 15*time.Second, fmt.Sprintf("a stand-in on %d", held), func() bool { return dialable(held) })
	// An absence over time (the stand-in never goes away) is seen only by
	// watching for that time: three leases of real time.
	if waitfor.Poll(3*lease, func() bool { return !dialable(held) }) {
		t.Fatalf("the renewed stand-in on %d went away within %v", held, 3*lease)
	}

	conn, err := grpc.NewClient(coord.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := linkmeshv1.NewMeshServiceClient(conn)
	// Both probes connect (a round needs their plan streams).
	var stream grpc.ServerStreamingClient[linkmeshv1.RunCheckResponse]
	if !waitfor.Poll(15*time.Second, func() bool {
		stream, err = api.RunCheck(t.Context(), &linkmeshv1.RunCheckRequest{Probe: "sql1", StandIn: true, SqlPort: uint32(port), Attempts: 10})
		if err == nil {
			_, err = stream.Recv()
		}
		return err == nil
	}) {
		t.Fatalf("RunCheck: %v", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("the round ended before the stand-in served: %v", err)
		}
		if p := resp.GetProgress(); strings.Contains(p, "serves a stand-in") {
			break
		} else if strings.Contains(p, "stand-in") && !strings.Contains(p, "asking") {
			t.Fatalf("stand-in not served: %s", p)
		}
	}
	if !dialable(port) {
		t.Fatalf("nothing listens on the round's stand-in port %d", port)
	}

	// The coordinator dies mid-round: its plan streams end before the round
	// can withdraw the stand-in.
	stopped := time.Now()
	stopCoord()
	select {
	case err := <-coordDone:
		if err != nil {
			t.Errorf("coordinator: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the coordinator did not stop")
	}
	for {
		_, err := stream.Recv()
		if err != nil {
			break
		}
	}

	// Within the lease (plus slack for a loaded machine) both ports are free.
	for _, p := range []int{port, held} {
		var err error
		if !waitfor.Poll(time.Until(stopped.Add(lease+8*time.Second)), func() bool {
			var lis net.Listener
			if lis, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
				lis.Close()
			}
			return err == nil
		}) {
			t.Fatalf("port %d still held %v after the coordinator stopped (lease %v): %v", p, time.Since(stopped).Round(time.Millisecond), lease, err)
		}
	}
	t.Logf("ports free %v after the coordinator stopped (lease %v)", time.Since(stopped).Round(time.Millisecond), lease)
	if n := strings.Count(sqlLogs.String(), "lease ran out"); n != 2 {
		t.Errorf("a lease running out was logged %d times by sql1, want once per port (2)", n)
	}
}

func dialable(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
