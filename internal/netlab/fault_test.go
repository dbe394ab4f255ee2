//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestLabReject checks, for each filter fault on sql -> mi:5022, what a Go
// dialer in sql sees, that mi -> sql:5022 stays unaffected, and that sql
// connects again once the fault is removed.
func TestLabReject(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi := l.SQL(), l.MI()
	serve(t, sql, ":5022", nil)
	serve(t, mi, ":5022", nil)
	for _, c := range []struct {
		name  string
		fault Fault
		check func(error) bool
		want  string
	}{
		{"drop", Fault{Kind: Drop}, isTimeout, "i/o timeout"},
		{"reset", Fault{Kind: RejectReset}, errnoIs(syscall.ECONNREFUSED), "ECONNREFUSED"},
		{"host-unreachable", Fault{Kind: RejectICMP, ICMP: HostUnreachable}, errnoIs(syscall.EHOSTUNREACH), "EHOSTUNREACH"},
		{"net-unreachable", Fault{Kind: RejectICMP, ICMP: NetUnreachable}, errnoIs(syscall.ENETUNREACH), "ENETUNREACH"},
		{"admin-prohibited", Fault{Kind: RejectICMP, ICMP: AdminProhibited}, errnoIs(syscall.EHOSTUNREACH), "EHOSTUNREACH"},
		{"port-unreachable", Fault{Kind: RejectICMP, ICMP: PortUnreachable}, errnoIs(syscall.ECONNREFUSED), "ECONNREFUSED"},
		{"port-range", Fault{Kind: RejectReset, Port: 5000, PortEnd: 5100}, errnoIs(syscall.ECONNREFUSED), "ECONNREFUSED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.fault
			f.From, f.To = "sql", "mi"
			if f.Port == 0 {
				f.Port = port
			}
			inj := inject(t, l, f)
			// Several attempts: ICMP errors must not be rate limited.
			for i := range 10 {
				d, err := dialTime(sql, hostPort(mi, port), 300*time.Millisecond)
				if !c.check(err) {
					t.Fatalf("dial %d sql -> mi: got %v after %v, want %s", i, err, d, c.want)
				}
				if c.name == "drop" {
					break
				}
				if d > 100*time.Millisecond {
					t.Errorf("dial %d sql -> mi: took %v, want an answer at once", i, d)
				}
			}
			mustConnect(t, mi, hostPort(sql, port))
			if err := inj.Remove(); err != nil {
				t.Fatal(err)
			}
			mustConnect(t, sql, hostPort(mi, port))
		})
	}
}

func errnoIs(want syscall.Errno) func(error) bool {
	return func(err error) bool { return errors.Is(err, want) }
}

func TestLabInjectErrors(t *testing.T) {
	t.Parallel()
	l := New(t)
	for _, f := range []Fault{
		{Kind: Drop, From: "sql", To: "sql"},
		{Kind: Drop, From: "sql", To: "nope"},
		{Kind: Drop, From: "wan", To: "mi"},
		{Kind: RejectICMP, From: "sql", To: "mi", ICMP: "icmp-bogus"},
		{Kind: Loss, From: "sql", To: "mi", Ratio: 1.5},
		{Kind: MTUBlackhole, From: "sql", To: "mi", MTU: 1400, Port: 1},
		{Kind: MTUBlackhole, From: "sql", To: "mi", MTU: 1600},
		{Kind: Rate, From: "sql", To: "mi"},
		{Kind: Redirect, From: "sql", To: "mi", Port: port},
		{Kind: Drop, From: "sql", To: "mi", Port: 9, PortEnd: 8},
		{From: "sql", To: "mi"},
	} {
		if inj, err := l.Inject(f); err == nil {
			inj.Remove()
			t.Errorf("Inject(%v): got no error, want one", f)
		}
	}
	// A failed Inject leaves nothing behind: a second fault on the same link
	// fails, and the first one's rules go with a partial failure.
	mtu := Fault{Kind: MTUBlackhole, From: "mi", To: "sql", MTU: 1400}
	inj := inject(t, l, mtu)
	if _, err := l.Inject(Fault{Kind: Drop, From: "sql", To: "mi"}, mtu); err == nil {
		t.Errorf("second mtu fault on one link: got no error, want one")
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	out, err := l.Router().Command("iptables", "-w", "5", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S: %v: %s", err, out)
	}
	if want := "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n"; string(out) != want {
		t.Errorf("router rules after removal: got %q, want %q", out, want)
	}
}

// TestLabLoss checks that 10 % loss each way makes some connects wait for a
// SYN retransmission (≥ 1 s) and lets most through at once.
func TestLabLoss(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi := l.SQL(), l.MI()
	serve(t, mi, ":5022", nil)
	f := Fault{Kind: Loss, From: "sql", To: "mi", Port: port, Ratio: 0.1}
	inject(t, l, f, f.Reverse())

	const n, workers = 100, 25
	var slow, failed atomic.Int32
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				d, err := dialTime(sql, hostPort(mi, port), 4*time.Second)
				if err != nil {
					failed.Add(1)
				} else if d >= time.Second {
					slow.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connects at 10%% loss each way: %d took >= 1 s, %d failed", n, slow.Load(), failed.Load())
	if s := slow.Load(); s < 2 || s > n/2 {
		t.Errorf("slow connects: got %d of %d, want a few (about 20%%)", s, n)
	}
}

// TestLabRedirect checks that a Redirect fault hands sql's SYNs for mi:5022
// to a listener in the router, and that removing it reaches mi again.
func TestLabRedirect(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi, wan := l.SQL(), l.MI(), l.Router()
	banner := func(name string) func(net.Conn) {
		return func(c net.Conn) { fmt.Fprint(c, name) }
	}
	serve(t, mi, ":5022", banner("mi"))
	serve(t, wan, ":15022", banner("wan"))
	read := func() string {
		t.Helper()
		c, err := sql.DialContext(t.Context(), "tcp", hostPort(mi, port))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		return string(buf[:n])
	}
	inj := inject(t, l, Fault{Kind: Redirect, From: "sql", To: "mi", Port: port, RedirectPort: 15022})
	if got := read(); got != "wan" {
		t.Errorf("with redirect: got %q, want the router's banner", got)
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "mi" {
		t.Errorf("after removal: got %q, want mi's banner", got)
	}
}
