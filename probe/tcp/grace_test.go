package tcp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// serveWith listens on 127.0.0.1:0 and runs handle on every accepted connection
// (handle closes it). It returns the listener's address.
func serveWith(t testing.TB, handle func(*net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by cleanup
			}
			wg.Go(func() { handle(c.(*net.TCPConn)) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// resetAtOnce closes with SO_LINGER 0: the kernel sends a RST, not a FIN.
func resetAtOnce(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// closeAtOnce closes normally: a FIN.
func closeAtOnce(c *net.TCPConn) { c.Close() }

// holdOpen reads until the client closes (or 10 s pass), like a healthy endpoint.
func holdOpen(c *net.TCPConn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, c)
}

// bannerFirst greets, then holds the connection open like a healthy endpoint.
func bannerFirst(c *net.TCPConn) {
	if _, err := c.Write([]byte("SSH-2.0-linkmesh-test\r\n")); err != nil {
		c.Close()
		return
	}
	holdOpen(c)
}

// TestProbeAcceptThenReset: a far end that accepts and at once resets or closes
// is told from a healthy one on every attempt (on loopback the reset races the
// connect call; either way the result is reset), and a healthy attempt waits no
// longer than the grace.
func TestProbeAcceptThenReset(t *testing.T) {
	const runs = 50
	tests := []struct {
		name       string
		handle     func(*net.TCPConn)
		want       attempt.Code
		wantDetail []string // any of these
		holds      bool     // a healthy end: the attempt waits the whole grace
	}{
		{name: "rst (SO_LINGER 0)", handle: resetAtOnce, want: attempt.Reset,
			wantDetail: []string{"accepted, then reset within", "accepted, then reset before the connect call returned"}},
		{name: "fin", handle: closeAtOnce, want: attempt.Reset, wantDetail: []string{"accepted, then closed within"}},
		{name: "healthy", handle: holdOpen, want: attempt.OK, wantDetail: []string{"; still open after 100."}, holds: true},
		{name: "banner", handle: bannerFirst, want: attempt.OK, wantDetail: []string{"the far end sent 23 bytes first (a banner)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveWith(t, tt.handle)
			var p Prober
			counts := map[string]int{}
			var slowest time.Duration
			for i := range runs {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				start := time.Now()
				res := p.Probe(ctx, addr)
				took := time.Since(start)
				cancel()
				counts[res.Code.String()+" "+detailHead(res.Detail)]++
				slowest = max(slowest, took)
				if res.Code != tt.want {
					t.Errorf("attempt %d: %v %q, want %v", i, res.Code, res.Detail, tt.want)
					continue
				}
				if !containsAny(res.Detail, tt.wantDetail) {
					t.Errorf("attempt %d: detail %q, want one of %q", i, res.Detail, tt.wantDetail)
				}
				if tt.want == attempt.Reset && !strings.Contains(res.Detail, refusingCause) {
					t.Errorf("attempt %d: detail %q, want the cause %q", i, res.Detail, refusingCause)
				}
				if res.RTTSource == attempt.RTTNone && tt.want == attempt.OK {
					t.Errorf("attempt %d: no RTT on an ok attempt", i)
				}
				// The grace on loopback is GraceAllowance plus 2 RTTs of a few µs.
				if tt.holds && took < GraceAllowance {
					t.Errorf("attempt %d took %v, want at least the %v grace", i, took, GraceAllowance)
				}
			}
			t.Logf("%d attempts: %v; slowest %v", runs, counts, slowest)
			// The healthy case waits the grace and no longer: a loaded CI
			// machine gets 250 ms of scheduling slack on top of it.
			if limit := GraceAllowance + 250*time.Millisecond; slowest > limit {
				t.Errorf("slowest attempt took %v, want at most %v (the grace plus slack)", slowest, limit)
			}
		})
	}
}

// TestProbeHealthyClosesPolitely: after the grace the far end still sees a FIN
// and no byte, banner or not.
func TestProbeHealthyClosesPolitely(t *testing.T) {
	for _, banner := range []bool{false, true} {
		seen := make(chan error, 1)
		addr := serveWith(t, func(c *net.TCPConn) {
			defer c.Close()
			if banner {
				c.Write([]byte("220 hello\r\n"))
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var buf [64]byte
			n, err := c.Read(buf[:])
			if n > 0 {
				err = errors.New("the probe wrote bytes")
			}
			seen <- err
		})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		res := (&Prober{}).Probe(ctx, addr)
		cancel()
		if res.Code != attempt.OK {
			t.Fatalf("banner %v: %v %q, want ok", banner, res.Code, res.Detail)
		}
		select {
		case err := <-seen:
			if !errors.Is(err, io.EOF) {
				t.Errorf("banner %v: the far end read %v, want io.EOF (a FIN)", banner, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("banner %v: the far end never saw the close", banner)
		}
	}
}

// TestProbeLateReset: the bound of what the tcp kind sees. A reset that comes
// within the grace is reset; one that comes after it is not seen (the attempt
// is over), as docs/results.md says.
func TestProbeLateReset(t *testing.T) {
	resetAfter := func(d time.Duration) func(*net.TCPConn) {
		return func(c *net.TCPConn) {
			time.Sleep(d) // the far application's latency is the scenario
			resetAtOnce(c)
		}
	}
	tests := []struct {
		name  string
		after time.Duration
		want  attempt.Code
	}{
		{name: "reset 10 ms after accept", after: 10 * time.Millisecond, want: attempt.Reset},
		{name: "reset 3 graces after accept", after: 3 * GraceAllowance, want: attempt.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serveWith(t, resetAfter(tt.after))
			for i := range 5 {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				res := (&Prober{}).Probe(ctx, addr)
				cancel()
				if res.Code != tt.want {
					t.Errorf("attempt %d: %v %q, want %v", i, res.Code, res.Detail, tt.want)
				}
			}
		})
	}
}

// TestProbeGraceCutByDeadline: the grace never runs past the attempt's deadline.
func TestProbeGraceCutByDeadline(t *testing.T) {
	addr := serveWith(t, holdOpen)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := (&Prober{}).Probe(ctx, addr)
	took := time.Since(start)
	if res.Code != attempt.OK || !strings.Contains(res.Detail, "the attempt's deadline cut the watch for a reset short") {
		t.Errorf("got %v %q, want ok saying the deadline cut the watch short", res.Code, res.Detail)
	}
	if took > 20*time.Millisecond+250*time.Millisecond {
		t.Errorf("took %v with a 20 ms deadline", took)
	}
}

// TestWatchCancelled: cancelling the attempt ends the watch at once, however
// long the grace.
func TestWatchCancelled(t *testing.T) {
	addr := serveWith(t, holdOpen)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	w := watchAfterAccept(ctx, c.(*net.TCPConn), start, time.Minute)
	if took := time.Since(start); w.outcome != watchQuiet || took > 5*time.Second {
		t.Fatalf("watch = %+v after %v, want quiet at once", w, took)
	}
	res := judgeWatch(attempt.Result{Code: attempt.OK, Detail: "connected"}, w, time.Minute, false, ctx.Err())
	if res.Code != attempt.OK || !strings.Contains(res.Detail, "cut short: context canceled") {
		t.Errorf("got %v %q, want ok saying the watch was cut short", res.Code, res.Detail)
	}
}

func TestGraceFor(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		rtt      time.Duration
		deadline time.Duration // 0: none
		want     time.Duration
		wantCut  bool
	}{
		{name: "loopback", rtt: 50 * time.Microsecond, want: GraceAllowance + 100*time.Microsecond},
		{name: "no rtt", rtt: 0, want: GraceAllowance},
		{name: "wan", rtt: 40 * time.Millisecond, want: 180 * time.Millisecond},
		{name: "intercontinental", rtt: 300 * time.Millisecond, want: 700 * time.Millisecond},
		{name: "after a SYN retransmit", rtt: 1010 * time.Millisecond, want: GraceMax},
		{name: "deadline first", rtt: 10 * time.Millisecond, deadline: 30 * time.Millisecond, want: 30 * time.Millisecond, wantCut: true},
		{name: "deadline passed", rtt: 10 * time.Millisecond, deadline: -time.Millisecond, want: 0, wantCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.deadline != 0 {
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.deadline))
			}
			defer cancel()
			got, cut := graceFor(ctx, tt.rtt, now)
			if got != tt.want || cut != tt.wantCut {
				t.Errorf("graceFor(rtt %v) = %v, %v; want %v, %v", tt.rtt, got, cut, tt.want, tt.wantCut)
			}
		})
	}
}

// detailHead is a detail up to its first number: what kind of outcome it was.
func detailHead(s string) string {
	if i := strings.IndexAny(s, "0123456789"); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
