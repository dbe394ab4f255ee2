//go:build linux

package netlab

import (
	"io"
	"net"
	"testing"
	"time"
)

// connectP50 returns the median connect time of n connects from sql to mi.
func connectP50(t *testing.T, l *Lab, n int) time.Duration {
	t.Helper()
	ds := make([]time.Duration, 0, n)
	for range n {
		d, err := dialTime(l.SQL(), hostPort(l.MI(), port), 2*time.Second)
		if err != nil {
			t.Fatalf("dial sql -> mi: %v", err)
		}
		ds = append(ds, d)
	}
	return median(ds)
}

// TestLabDelay checks that a 5 ms one-way delay each way makes a connect take
// about 10 ms plus the queue cost, which a 0 ms round calibrates, once the
// delayer's own release lateness (a noisy machine's timers, which the packets
// really went through) is taken off. A round that misses is measured again,
// at most three times.
func TestLabDelay(t *testing.T) {
	l := New(t)
	serve(t, l.MI(), ":5022", nil)
	const n = 30
	base := connectP50(t, l, n)

	f := Fault{Kind: Delay, From: "sql", To: "mi", Port: port}
	inj := inject(t, l, f, f.Reverse())
	queued := connectP50(t, l, n)
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}

	f.Delay = 5 * time.Millisecond
	var delayed, late time.Duration
	for round := 1; round <= 3; round++ {
		inj = inject(t, l, f, f.Reverse())
		delayed = connectP50(t, l, n)
		late = inj.MedianLateness()
		if err := inj.Remove(); err != nil {
			t.Fatal(err)
		}
		if d := inj.Dropped(); d != 0 {
			t.Errorf("delayer drops: got %d, want 0", d)
		}
		t.Logf("round %d: connect p50 over %d: no rule %v, queued only %v, 5 ms each way %v, the delayer late by %v each way (want 10 ms + queue cost %v + 2 × late)",
			round, n, base, queued, delayed, late, queued-base)
		if c := delayed - 2*late; c >= 9*time.Millisecond && c <= 15*time.Millisecond {
			return
		}
	}
	t.Errorf("connect p50 with 5 ms each way: got %v, less 2 × %v of the delayer's lateness; want about 10 ms", delayed, late)
}

// TestLabDelayRemoveWhileFlowing removes a delay in the middle of a
// ping-pong exchange: no message is lost and round trips get fast again.
func TestLabDelayRemoveWhileFlowing(t *testing.T) {
	t.Parallel()
	l := New(t)
	serve(t, l.MI(), ":5022", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.Copy(c, c)
	})
	f := Fault{Kind: Delay, From: "sql", To: "mi", Port: port, Delay: 5 * time.Millisecond}
	inj := inject(t, l, f, f.Reverse())

	c, err := l.SQL().DialContext(t.Context(), "tcp", hostPort(l.MI(), port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const rounds, removeAt = 100, 20
	msg, buf := []byte("ping"), make([]byte, 4)
	var slow, fast []time.Duration
	for i := range rounds {
		if i == removeAt {
			if err := inj.Remove(); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("round %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("round %d: read: %v", i, err)
		}
		if i < removeAt {
			slow = append(slow, time.Since(start))
		} else {
			fast = append(fast, time.Since(start))
		}
	}
	t.Logf("round trip p50: %v with the delay, %v after removal", median(slow), median(fast))
	if got := median(slow); got < 9*time.Millisecond {
		t.Errorf("round trip with 5 ms each way: got %v, want about 10 ms", got)
	}
	if got := median(fast); got > 3*time.Millisecond {
		t.Errorf("round trip after removal: got %v, want under 3 ms", got)
	}
}
