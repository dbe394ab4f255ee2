//go:build linux

package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

const port = 5022

// serve listens on addr inside h and hands each connection to handle (nil:
// close at once). The accept loop and handlers end in the test's cleanup,
// which closes the listener and waits for them.
func serve(t *testing.T, h *Host, addr string, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h.Name(), err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	stopped := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if stopped {
				mu.Unlock()
				c.Close()
				return
			}
			conns = append(conns, c)
			mu.Unlock()
			if handle == nil {
				c.Close()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		stopped = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln
}

// hostPort is h's address with port, as a dial string.
func hostPort(h *Host, p uint16) string {
	return netip.AddrPortFrom(h.Addr(), p).String()
}

// dialTime dials addr from h with a timeout and returns how long the connect
// took; the connection is closed.
func dialTime(h *Host, addr string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	c, err := h.DialContext(ctx, "tcp", addr)
	d := time.Since(start)
	if err == nil {
		c.Close()
	}
	return d, err
}

// mustConnect fails the test unless h connects to addr within a second.
func mustConnect(t *testing.T, h *Host, addr string) {
	t.Helper()
	if _, err := dialTime(h, addr, time.Second); err != nil {
		t.Fatalf("dial %s from %s: %v, want a connection", addr, h.Name(), err)
	}
}

// inject injects faults and removes them in the test's cleanup.
func inject(t *testing.T, l *Lab, faults ...Fault) *Injection {
	t.Helper()
	inj, err := l.Inject(faults...)
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	t.Cleanup(func() {
		if err := inj.Remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	return inj
}

// median returns the middle of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// isTimeout reports whether err is a dial that ran out of time. Usually it
// is context.DeadlineExceeded, but when the poller's write deadline fires
// before the context's timer, Go returns os.ErrDeadlineExceeded: both say
// Timeout().
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
