package gossip

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// BenchmarkConvergence builds clusters of N members in one process on loopback,
// joining one after another to the first, and reports how long it takes until
// every member sees N alive (s/converge). It compares bare memberlist (its
// DefaultLANConfig, no delegates, no encryption) with linkmesh's Node on the same
// timing profile, without and with the mesh key. Run it with
//
//	go test -run '^$' -bench Convergence -benchtime 1x -timeout 30m ./internal/gossip/
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{100, 200, 300} {
		b.Run(fmt.Sprintf("memberlist-lan/n=%d", n), func(b *testing.B) { benchBare(b, n) })
		b.Run(fmt.Sprintf("linkmesh-lan/n=%d", n), func(b *testing.B) { benchNode(b, n, "lan", nil) })
		b.Run(fmt.Sprintf("linkmesh-lan-key/n=%d", n), func(b *testing.B) { benchNode(b, n, "lan", testKey(9)) })
	}
}

const convergeLimit = 120 * time.Second

func benchBare(b *testing.B, n int) { benchBareWith(b, n, nil) }

func benchBareWith(b *testing.B, n int, d memberlist.Delegate) {
	for range b.N {
		var mls []*memberlist.Memberlist
		for i := range n {
			c := memberlist.DefaultLANConfig()
			c.Name = "m" + strconv.Itoa(i)
			c.BindAddr, c.BindPort, c.AdvertisePort = "127.0.0.1", 0, 0
			c.Logger = log.New(io.Discard, "", 0)
			c.Delegate = d
			ml, err := memberlist.Create(c)
			if err != nil {
				b.Fatal(err)
			}
			mls = append(mls, ml)
		}
		first := mls[0].LocalNode()
		seed := first.Addr.String() + ":" + strconv.Itoa(int(first.Port))
		start := time.Now()
		for _, ml := range mls[1:] {
			if _, err := ml.Join([]string{seed}); err != nil {
				b.Fatal(err)
			}
		}
		converged := waitfor.Poll(convergeLimit, func() bool {
			for _, ml := range mls {
				if ml.NumMembers() != n {
					return false
				}
			}
			return true
		})
		report(b, start, converged)
		for _, ml := range mls {
			ml.Shutdown()
		}
	}
}

func benchNode(b *testing.B, n int, profile string, key []byte) {
	for range b.N {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		var nodes []*Node
		for i := range n {
			node, err := Start(Config{
				Meta:    Meta{Role: RoleProbe, Name: "p" + strconv.Itoa(i), Site: "site-" + strconv.Itoa(i%2), Labels: map[string]string{"rack": "r1"}, Responder: "127.0.0.1:5023", Version: "bench"},
				Bind:    "127.0.0.1:0",
				Key:     key,
				Profile: profile,
				Logger:  logger,
			})
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, node)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, n)
		seed := nodes[0].Addr()
		start := time.Now()
		for _, node := range nodes[1:] {
			if _, err := node.ml.Join([]string{seed}); err != nil {
				b.Fatal(err)
			}
		}
		for _, node := range nodes {
			go func() { node.Run(ctx); done <- struct{}{} }()
		}
		converged := waitfor.Poll(convergeLimit, func() bool {
			for _, node := range nodes {
				if node.NumAlive() != n {
					return false
				}
			}
			return true
		})
		report(b, start, converged)
		cancel()
		for range nodes {
			<-done
		}
	}
}

func report(b *testing.B, start time.Time, converged bool) {
	if !converged {
		b.Logf("did not converge within %v", convergeLimit)
		b.ReportMetric(-1, "s/converge")
		return
	}
	b.ReportMetric(time.Since(start).Seconds(), "s/converge")
}

// metaDelegate gives bare memberlist a no-op delegate with the given metadata, to
// separate the cost of metadata from the cost of linkmesh's delegates.
type metaDelegate struct{ meta []byte }

func (d metaDelegate) NodeMeta(int) []byte               { return d.meta }
func (metaDelegate) NotifyMsg([]byte)                    {}
func (metaDelegate) GetBroadcasts(int, int) [][]byte     { return nil }
func (metaDelegate) LocalState(bool) []byte              { return nil }
func (metaDelegate) MergeRemoteState(buf []byte, _ bool) {}

// BenchmarkConvergenceMetaOnly is BenchmarkConvergence's bare memberlist with a
// no-op delegate, without metadata (nometa) and with linkmesh-sized metadata.
func BenchmarkConvergenceMetaOnly(b *testing.B) {
	for _, n := range []int{100, 200} {
		b.Run(fmt.Sprintf("memberlist-lan-nometa/n=%d", n), func(b *testing.B) { benchBareWith(b, n, metaDelegate{}) })
		b.Run(fmt.Sprintf("memberlist-lan-meta/n=%d", n), func(b *testing.B) {
			// What probes gossiped before they stopped sending metadata (~30 bytes).
			benchBareWith(b, n, metaDelegate{[]byte(`{"r":"p","s":"site-0","p":":5023"}`)})
		})
	}
}

// BenchmarkConvergenceProfiles is 500 members with the mesh key in one process
// (on 2 cores: every member's timers compete for them), on the wan profile (the
// default) and on lan: what docs/scaling.md's gossip guidance rests on.
//
//	go test -run '^$' -bench ConvergenceProfiles -benchtime 1x -timeout 20m ./internal/gossip/
func BenchmarkConvergenceProfiles(b *testing.B) {
	for _, profile := range []string{"wan", "lan"} {
		b.Run(fmt.Sprintf("linkmesh-%s-key/n=500", profile), func(b *testing.B) { benchNode(b, 500, profile, testKey(9)) })
	}
}
