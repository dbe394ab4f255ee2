//go:build linux

package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// kindLabels pick one path of one kind out of the series.
func kindLabels(src, dst string, port int, kind string) []string {
	return append(pathLabels(src, dst, port), "kind", kind)
}

func kindCount(s series, src, dst string, port int, kind, result string) float64 {
	v, _ := s.one("linkmesh_path_probes_total", append(kindLabels(src, dst, port, kind), "result", result)...)
	return v
}

func kindValue(s series, name, src, dst string, port int, kind string) (float64, bool) {
	return s.one(name, kindLabels(src, dst, port, kind)...)
}

// middlebox listens on port in the router and accepts every connection,
// reading and discarding what arrives without a word: a firewall or proxy
// that completes handshakes in the target's place.
func middlebox(t *testing.T, lab *netlab.Lab, port int) {
	t.Helper()
	lis, err := lab.Router().Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("middlebox listen: %v", err)
	}
	done := make(chan struct{})
	conns := make(chan net.Conn, 1024)
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			default:
				c.Close()
			}
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
}

// TestLabMiddleboxAnsweringSYNs: a device in the router takes over new
// connections to the mi probe's responder. The tcp kind cannot tell (the
// handshake completes: ok); the echo kind can (no authenticated hello:
// mismatch). After the redirect goes, echo is ok again.
func TestLabMiddleboxAnsweringSYNs(t *testing.T) {
	const boxPort = 15023
	lab := netlab.New(t)
	m := newLabMesh(t, lab, `
defaults: {interval: 1s, timeout: 1s}
stale_after: 10s
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
  - {name: echo, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
`)
	middlebox(t, lab, boxPort)
	m.wait(t, 20*time.Second, "tcp and echo sql→mi ok", func(s series) bool {
		a, okA := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "tcp")
		b, okB := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "echo")
		return okA && okB && a == 1 && b == 1
	})
	before := m.scrape(t)
	inj, err := lab.Inject(netlab.Fault{Kind: netlab.Redirect, From: "sql", To: "mi", Port: labResponder, RedirectPort: boxPort})
	if err != nil {
		t.Fatal(err)
	}
	during, took := m.wait(t, 15*time.Second, "echo mismatch while tcp stays ok", func(s series) bool {
		up, ok := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "echo")
		return ok && up == 0 &&
			kindCount(s, "sql1", "mi1", labResponder, "echo", "mismatch") >= kindCount(before, "sql1", "mi1", labResponder, "echo", "mismatch")+2 &&
			kindCount(s, "sql1", "mi1", labResponder, "tcp", "ok") >= kindCount(before, "sql1", "mi1", labResponder, "tcp", "ok")+2
	})
	if up, _ := kindValue(during, "linkmesh_path_up", "sql1", "mi1", labResponder, "tcp"); up != 1 {
		t.Errorf("tcp through the middlebox: up %v, want 1 (a handshake proves nothing)", up)
	}
	for _, r := range []string{"timeout", "refused", "reset", "error"} {
		if d := kindCount(during, "sql1", "mi1", labResponder, "tcp", r) - kindCount(before, "sql1", "mi1", labResponder, "tcp", r); d != 0 {
			t.Errorf("tcp result %s went up by %v during the redirect", r, d)
		}
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	m.wait(t, 15*time.Second, "echo ok again after the redirect goes", func(s series) bool {
		up, ok := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "echo")
		return ok && up == 1
	})
	report(t, "", fmt.Sprintf("middlebox answering SYNs (redirect of sql→mi:%d into the router): tcp stays ok, echo reads mismatch after %.1f s",
		labResponder, took.Seconds()))
}

// TestLabEchoMTUBlackhole: the router's link toward mi carries at most 1400-byte
// packets and the "fragmentation needed" errors are dropped. The TCP
// handshake works (tcp: ok); the echo path's MTU check reports the black hole
// and the largest size that crosses (≤ 1400).
func TestLabEchoMTUBlackhole(t *testing.T) {
	const injected = 1400
	lab := netlab.New(t)
	m := newLabMesh(t, lab, `
defaults: {interval: 5s, timeout: 5s}
stale_after: 20s
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
  - {name: echo, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 5s}}
`)
	m.wait(t, 20*time.Second, "echo sql→mi checked the path MTU: 1500, no black hole", func(s series) bool {
		mtu, ok1 := kindValue(s, "linkmesh_path_mtu_bytes", "sql1", "mi1", labResponder, "echo")
		hole, ok2 := kindValue(s, "linkmesh_path_mtu_blackhole", "sql1", "mi1", labResponder, "echo")
		return ok1 && ok2 && mtu == 1500 && hole == 0
	})
	inj, err := lab.Inject(netlab.Fault{Kind: netlab.MTUBlackhole, From: "sql", To: "mi", MTU: injected})
	if err != nil {
		t.Fatal(err)
	}
	before := m.scrape(t)
	s, took := m.wait(t, 30*time.Second, "black hole reported with mtu ≤ 1400", func(s series) bool {
		mtu, ok1 := kindValue(s, "linkmesh_path_mtu_bytes", "sql1", "mi1", labResponder, "echo")
		hole, ok2 := kindValue(s, "linkmesh_path_mtu_blackhole", "sql1", "mi1", labResponder, "echo")
		return ok1 && ok2 && hole == 1 && mtu <= injected
	})
	mtu, _ := kindValue(s, "linkmesh_path_mtu_bytes", "sql1", "mi1", labResponder, "echo")
	if up, _ := kindValue(s, "linkmesh_path_up", "sql1", "mi1", labResponder, "tcp"); up != 1 ||
		kindCount(s, "sql1", "mi1", labResponder, "tcp", "ok") <= kindCount(before, "sql1", "mi1", labResponder, "tcp", "ok") {
		t.Errorf("tcp during the black hole: up %v; the handshake must still work", up)
	}
	var detail string
	if ps, err := m.paths(time.Minute); err == nil {
		for _, p := range ps {
			if p.Source == "sql1" && p.Port == labResponder && p.Kind == "echo" {
				detail = p.LastDetail
			}
		}
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	_, recovered := m.wait(t, 30*time.Second, "no black hole after the repair", func(s series) bool {
		mtu, ok1 := kindValue(s, "linkmesh_path_mtu_bytes", "sql1", "mi1", labResponder, "echo")
		hole, ok2 := kindValue(s, "linkmesh_path_mtu_blackhole", "sql1", "mi1", labResponder, "echo")
		return ok1 && ok2 && hole == 0 && mtu == 1500
	})
	report(t, "", fmt.Sprintf("MTU black hole at %d bytes on the router's link toward mi: tcp ok throughout; echo reported linkmesh_path_mtu_blackhole 1, "+
		"linkmesh_path_mtu_bytes %.0f after %.1f s; back to 1500 / 0 %.1f s after the repair", injected, mtu, took.Seconds(), recovered.Seconds()),
		"detail: "+detail)
	if mtu != injected {
		t.Logf("mtu %v: the search stopped short of the exact figure %d", mtu, injected)
	}
}
