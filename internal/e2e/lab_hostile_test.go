//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

// hostileClient is one kind of hostile client: it makes one connection's worth of
// trouble against addr and returns when done (or ctx ends).
type hostileClient struct {
	name    string
	clients int
	run     func(ctx context.Context, c net.Conn)
}

var hostileClients = []hostileClient{
	{name: "random bytes", clients: 4, run: func(ctx context.Context, c net.Conn) {
		b := make([]byte, 4096)
		rand.Read(b)
		c.Write(b)
	}},
	{name: "truncated frames", clients: 4, run: func(ctx context.Context, c net.Conn) {
		hello, _ := wire.AppendFrame(nil, wire.Hello, make([]byte, wire.HelloSize))
		c.Write(hello[:20])
	}},
	{name: "huge length fields", clients: 4, run: func(ctx context.Context, c net.Conn) {
		c.Write([]byte{'L', 'M', wire.Version, byte(wire.BurstData), 0x7f, 0xff, 0xff, 0xff})
		c.Write(bytes.Repeat([]byte{0xee}, 60000))
	}},
	{name: "slowloris", clients: 150, run: func(ctx context.Context, c net.Conn) {
		hello, _ := wire.AppendFrame(nil, wire.Hello, make([]byte, wire.HelloSize))
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for _, b := range hello { // a byte a second: 168 s for a hello
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}},
}

// rssKiB reads a process's resident set size.
func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// TestLabHostileClients: from the sql host, clients send random bytes,
// truncated frames and huge length fields, and 150 slowloris clients trickle
// hellos, all at the mi probe's responder for 20 s. It must stay up with its
// memory bounded, and the sql probe's echo attempts (from the same address)
// must keep succeeding meanwhile.
func TestLabHostileClients(t *testing.T) {
	lab := netlab.New(t)
	m := newLabMesh(t, lab, `
defaults: {interval: 500ms, timeout: 500ms}
stale_after: 10s
paths:
  - {name: echo, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
`)
	m.wait(t, 20*time.Second, "echo sql→mi ok", func(s series) bool {
		up, ok := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "echo")
		return ok && up == 1
	})
	pid := m.probes["mi"].Process.Pid
	rss0, err := rssKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	before := m.scrape(t)

	const duration = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	target := net.JoinHostPort(lab.MI().Addr().String(), strconv.Itoa(labResponder))
	var conns atomic.Int64
	var wg sync.WaitGroup
	for _, a := range hostileClients {
		for range a.clients {
			wg.Go(func() {
				// Bounded: at most 2,000 connections per client, and the duration.
				for i := 0; i < 2000 && ctx.Err() == nil; i++ {
					dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
					c, err := lab.SQL().DialContext(dctx, "tcp", target)
					dcancel()
					if err != nil {
						continue
					}
					conns.Add(1)
					stop := context.AfterFunc(ctx, func() { c.Close() })
					a.run(ctx, c)
					c.SetReadDeadline(time.Now().Add(time.Second))
					var b [64]byte
					c.Read(b[:]) // let the responder close first where it will
					stop()
					c.Close()
				}
			})
		}
	}
	maxRSS := rss0
	tick := time.NewTicker(250 * time.Millisecond)
	for ctx.Err() == nil {
		select {
		case <-tick.C:
			if r, err := rssKiB(pid); err == nil {
				maxRSS = max(maxRSS, r)
			} else {
				t.Errorf("the mi probe is gone during the attack: %v", err)
				cancel()
			}
		case <-ctx.Done():
		}
	}
	tick.Stop()
	wg.Wait()
	during := m.scrape(t)
	okDuring := kindCount(during, "sql1", "mi1", labResponder, "echo", "ok") - kindCount(before, "sql1", "mi1", labResponder, "echo", "ok")
	var failed float64
	for _, r := range []string{"timeout", "refused", "unreachable", "reset", "mismatch", "error"} {
		failed += kindCount(during, "sql1", "mi1", labResponder, "echo", r) - kindCount(before, "sql1", "mi1", labResponder, "echo", r)
	}
	m.wait(t, 10*time.Second, "echo still ok after the attack", func(s series) bool {
		return kindCount(s, "sql1", "mi1", labResponder, "echo", "ok") > kindCount(during, "sql1", "mi1", labResponder, "echo", "ok")
	})
	report(t, "", fmt.Sprintf("hostile clients against the mi responder for %v (%d connections: random bytes, truncated frames, huge length fields, 150 slowloris): "+
		"RSS %.1f MiB before, at most %.1f MiB during; legitimate echo attempts meanwhile: %.0f ok, %.0f failed",
		duration, conns.Load(), float64(rss0)/1024, float64(maxRSS)/1024, okDuring, failed))
	if okDuring < 10 {
		t.Errorf("only %.0f echo attempts succeeded during the attack (%.0f failed); want ≥ 10", okDuring, failed)
	}
	if failed > okDuring/10 {
		t.Errorf("%.0f of %.0f echo attempts failed during the attack; want at most 10 %%", failed, failed+okDuring)
	}
	if grow := maxRSS - rss0; grow > 32*1024 {
		t.Errorf("responder RSS grew by %.1f MiB under attack; want ≤ 32 MiB", float64(grow)/1024)
	}
}
