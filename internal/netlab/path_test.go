//go:build linux

package netlab

import (
	"bytes"
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// writeAll is a server handler that sends n bytes and then waits for the
// client to close, so the test decides when the connection ends.
func writeAll(n int) func(net.Conn) {
	return func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(bytes.Repeat([]byte("x"), n)); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}
}

// TestLabMTUBlackhole checks the black hole on mi -> sql: the connect works,
// a 200 KB answer does not arrive while the fault is in force but does after
// Remove, and a client that announces a small MSS gets through meanwhile.
func TestLabMTUBlackhole(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi := l.SQL(), l.MI()
	const size = 200 << 10
	serve(t, mi, ":5022", writeAll(size))
	inj := inject(t, l, Fault{Kind: MTUBlackhole, From: "mi", To: "sql", MTU: 1400})

	c, err := sql.DialContext(t.Context(), "tcp", hostPort(mi, port))
	if err != nil {
		t.Fatalf("dial through the black hole: %v, want a connection", err)
	}
	defer c.Close()
	buf := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(time.Second))
	got, err := io.ReadFull(c, buf)
	if !isTimeout(err) {
		t.Fatalf("read through the black hole: got %d bytes, %v; want a timeout", got, err)
	}
	t.Logf("black hole: %d of %d bytes in 1 s", got, size)

	// The same transfer with MSS 1200 announced: the segments fit.
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1200)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	small, err := sql.DialWith(t.Context(), d, "tcp", hostPort(mi, port))
	if err != nil {
		t.Fatalf("dial with MSS 1200: %v", err)
	}
	defer small.Close()
	small.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := io.ReadFull(small, make([]byte, size)); err != nil {
		t.Errorf("read with MSS 1200 through the black hole: got %d bytes, %v; want all %d", n, err, size)
	}

	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.ReadFull(c, buf[got:]); err != nil {
		t.Fatalf("read after removal: got %d more bytes, %v; want the rest", n, err)
	}
	t.Logf("after removal the rest arrived in %v", time.Since(start).Round(time.Millisecond))
}

// TestLabRate checks that a 10 Mbit/s rate toward sql measures roughly that
// over a 2 s transfer, and that removing it lifts the limit.
func TestLabRate(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi := l.SQL(), l.MI()
	serve(t, mi, ":5022", func(c net.Conn) {
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		chunk := make([]byte, 32<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	inj := inject(t, l, Fault{Kind: Rate, From: "mi", To: "sql", Rate: 10_000_000})

	measure := func(d time.Duration) float64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		c, err := sql.DialContext(ctx, "tcp", hostPort(mi, port))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(start.Add(d))
		n, _ := io.Copy(io.Discard, c)
		return float64(n) * 8 / time.Since(start).Seconds()
	}
	if got := measure(2 * time.Second); got < 7e6 || got > 13e6 {
		t.Errorf("throughput at 10 Mbit/s: got %.2f Mbit/s, want about 10", got/1e6)
	} else {
		t.Logf("throughput at 10 Mbit/s: %.2f Mbit/s", got/1e6)
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	if got := measure(300 * time.Millisecond); got < 50e6 {
		t.Errorf("throughput after removal: got %.2f Mbit/s, want well above 10", got/1e6)
	} else {
		t.Logf("throughput after removal: %.0f Mbit/s", got/1e6)
	}
}
