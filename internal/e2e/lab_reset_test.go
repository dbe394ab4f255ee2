//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// Ports of the reset lab, in the mi host: one listener that resets every
// connection right after accepting it, one healthy.
const (
	resetPort   = 5022
	healthyPort = 5023
	resetHADR   = 11003 // P2's --mi-node port, resetting too
)

// serveThenReset listens on port inside h and resets every connection right
// after accepting it (SO_LINGER 0, then close: the kernel sends a RST), like a
// proxy or firewall that refuses the client.
func serveThenReset(t *testing.T, h *netlab.Host, port int) {
	t.Helper()
	lis, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listen on %s:%d: %v", h.Name(), port, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	})
	t.Cleanup(func() {
		lis.Close()
		wg.Wait()
	})
}

// probeFrom makes one attempt of the tcp kind from inside h, as a probe there
// would, and says how long it took.
func probeFrom(t *testing.T, h *netlab.Host, addr string, timeout time.Duration) (attempt.Result, time.Duration) {
	t.Helper()
	var res attempt.Result
	var took time.Duration
	if err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		start := time.Now()
		res = (&tcp.Prober{}).Probe(ctx, addr)
		took = time.Since(start)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return res, took
}

// handshakeOnlyFrom is what the tcp kind did before the grace: connect, then
// close at once. It reports the result and how long it took.
func handshakeOnlyFrom(t *testing.T, h *netlab.Host, addr string, timeout time.Duration) (attempt.Code, time.Duration) {
	t.Helper()
	var code attempt.Code
	var took time.Duration
	if err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		start := time.Now()
		c, res := (&tcp.Prober{}).Connect(ctx, addr)
		if c != nil {
			c.Close()
		}
		took, code = time.Since(start), res.Code
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return code, took
}

// TestLabReset: from sql, the real tcp kind against a listener in mi that
// accepts and at once resets (SO_LINGER 0) reads reset on every attempt, with
// the delayer off and with 5 ms each way; a healthy listener on the same path
// stays ok, and takes the grace longer than the handshake.
func TestLabReset(t *testing.T) {
	lab := netlab.New(t)
	sql, mi := lab.SQL(), lab.MI()
	serveThenReset(t, mi, resetPort)
	healthy, err := mi.Listen("tcp", fmt.Sprintf(":%d", healthyPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(holdConns(healthy))
	bad := netip.AddrPortFrom(mi.Addr(), resetPort).String()
	good := netip.AddrPortFrom(mi.Addr(), healthyPort).String()

	const runs = 50
	for _, delay := range []time.Duration{-1, 5 * time.Millisecond} {
		name := "delayer off"
		if delay >= 0 {
			name = fmt.Sprintf("delay %v each way", delay)
		}
		t.Run(name, func(t *testing.T) {
			if delay >= 0 {
				f := netlab.Fault{Kind: netlab.Delay, Delay: delay, From: "sql", To: "mi", Port: resetPort, PortEnd: healthyPort}
				inj, err := lab.Inject(f, f.Reverse())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if err := inj.Remove(); err != nil {
						t.Errorf("remove the delay: %v", err)
					}
				})
			}
			var resetCodes, healthyCodes, oldCodes []string
			var healthyTook, oldTook []time.Duration
			for i := range runs {
				res, _ := probeFrom(t, sql, bad, 2*time.Second)
				resetCodes = append(resetCodes, res.Code.String())
				if res.Code != attempt.Reset || !strings.Contains(res.Detail, "accepted, then reset") ||
					!strings.Contains(res.Detail, "a proxy or firewall in the path, or the endpoint refusing this client") {
					t.Errorf("attempt %d to the resetting listener: %s %q, want reset saying accepted, then reset", i, res.Code, res.Detail)
				}
				res, took := probeFrom(t, sql, good, 2*time.Second)
				healthyCodes = append(healthyCodes, res.Code.String())
				healthyTook = append(healthyTook, took)
				if res.Code != attempt.OK {
					t.Errorf("attempt %d to the healthy listener: %s %q, want ok", i, res.Code, res.Detail)
				}
				code, _ := handshakeOnlyFrom(t, sql, bad, 2*time.Second)
				oldCodes = append(oldCodes, code.String())
				_, took = handshakeOnlyFrom(t, sql, good, 2*time.Second)
				oldTook = append(oldTook, took)
			}
			report(t, fmt.Sprintf("accept-then-reset, sql → mi, %s, %d attempts each:", name, runs),
				fmt.Sprintf("  resetting listener, tcp kind now: %s", tally(resetCodes)),
				fmt.Sprintf("  resetting listener, handshake then close (the tcp kind before): %s", tally(oldCodes)),
				fmt.Sprintf("  healthy listener, tcp kind now: %s", tally(healthyCodes)),
				fmt.Sprintf("  healthy attempt duration: now p50 %s, max %s; handshake only (before) p50 %s, max %s",
					ms(pct(healthyTook, 50)), ms(pct(healthyTook, 100)), ms(pct(oldTook, 50)), ms(pct(oldTook, 100))))
		})
	}
}

// TestLabResetCheck: `linkmesh check` on the sql host fails P1, P2 (--mi-node
// with its port) and EP with reset when the MI's 5022, the node's HADR port
// and the local endpoint accept and at once reset, with the delayer off and on.
func TestLabResetCheck(t *testing.T) {
	lab := netlab.New(t)
	router, sql, mi := lab.Router(), lab.SQL(), lab.MI()
	var pc net.PacketConn
	if err := router.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", netip.AddrPortFrom(router.AddrToward(sql), 53).String())
		return err
	}); err != nil {
		t.Fatalf("dns server in the router: %v", err)
	}
	srv, err := dnstest.Serve(pc, map[string][]netip.Addr{checkMI: {mi.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := &checkLab{lab: lab, bin: netlab.BuildLinkmesh(t), dnsAddr: srv.Addr()}
	serveThenReset(t, mi, resetPort)
	serveThenReset(t, mi, resetHADR)
	serveThenReset(t, sql, resetPort) // "SQL Server's endpoint"
	args := []string{"--mi", checkMI, "--mi-subnet", "198.18.2.0/24", "--mi-node", fmt.Sprintf("%s:%d", mi.Addr(), resetHADR)}

	for _, delay := range []time.Duration{-1, 5 * time.Millisecond} {
		name := "delayer off"
		if delay >= 0 {
			name = fmt.Sprintf("delay %v each way", delay)
		}
		t.Run(name, func(t *testing.T) {
			if delay >= 0 {
				f := netlab.Fault{Kind: netlab.Delay, Delay: delay, From: "sql", To: "mi", Port: resetPort, PortEnd: resetHADR}
				c.inject(t, f)
				c.inject(t, f.Reverse())
			}
			code, rows := c.checkJSON(t, args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1 (not ready)", code)
			}
			for _, id := range []string{"P1", "P2", "EP"} {
				r := rows[id]
				if r.Status != "fail" || r.Result != "reset" || r.Fix == nil {
					t.Errorf("%s: %s %s (%s: %s), want fail reset with a fix", id, r.Status, r.Result, r.Measured, r.Reason)
				}
			}
			p1 := rows["P1"]
			if p1.Measured != "accepted, then reset" || !strings.Contains(p1.Reason, "a proxy or firewall in the path, or the endpoint refusing this host") {
				t.Errorf("P1 %q: %q, want accepted, then reset and the cause", p1.Measured, p1.Reason)
			}
			report(t, fmt.Sprintf("linkmesh check against accept-then-reset listeners, %s: P1 %s %s: %s", name, p1.Status, p1.Measured, p1.Reason))
		})
	}
}

// TestLabResetCheckCoordinated: in a coordinated round the MI-side probe's tcp
// kind (a real probe process) connects to SQL Server's endpoint; one that
// accepts and at once resets fails P3 with reset, not pass.
func TestLabResetCheckCoordinated(t *testing.T) {
	c := newCheckLab(t) // mi: healthy 5022 and HADR port
	lab := c.lab
	startLabMesh(t, lab, `
defaults: {interval: 5s, timeout: 2s}
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
`, map[string][]string{"mi": {"--dns-server", c.dnsAddr}}).wait(t, 20*time.Second, "both probes up", func(s series) bool {
		a, okA := s.one("linkmesh_probe_up", "probe", "sql1")
		b, okB := s.one("linkmesh_probe_up", "probe", "mi1")
		return okA && okB && a == 1 && b == 1
	})
	serveThenReset(t, lab.SQL(), resetPort) // the port is taken: P3 uses the tcp kind, no stand-in
	coord := net.JoinHostPort(lab.Router().AddrToward(lab.SQL()).String(), fmt.Sprint(labGRPC))
	code, rows := c.checkJSON(t, "--timeout", "3s", "--mi", checkMI, "--mi-subnet", "198.18.2.0/24", "--mi-node", checkNode,
		"--coordinator", coord, "--insecure", "--probe", "sql1")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for id, want := range map[string]string{"P1": "pass", "P3": "fail", "EP": "fail"} {
		if r := rows[id]; r.Status != want {
			t.Errorf("%s: %s %s (%s: %s), want %s", id, r.Status, r.Result, r.Measured, r.Reason, want)
		}
	}
	p3 := rows["P3"]
	if p3.Result != "reset" || !strings.Contains(p3.Reason, "accepted and then reset") {
		t.Errorf("P3 %+v, want reset: accepted and then reset", p3)
	}
	report(t, fmt.Sprintf("linkmesh check --coordinator, SQL Server's endpoint accepts then resets: P3 %s %s (%s): %s", p3.Status, p3.Result, p3.Measured, p3.Reason))
}

// tally counts equal strings: "reset ×50" or "ok ×31, reset ×19".
func tally(codes []string) string {
	n := map[string]int{}
	for _, c := range codes {
		n[c]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, n[k])
	}
	return strings.Join(parts, ", ")
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max((p*len(s)+99)/100-1, 0)
	return s[min(i, len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
