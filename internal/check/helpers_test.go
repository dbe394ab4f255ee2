package check

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// listen opens a listener on 127.0.0.1:0 that keeps every connection open
// until the client closes it, like a healthy endpoint, and returns its port.
func listen(t *testing.T) uint16 {
	return serveConns(t, func(c *net.TCPConn) {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
	})
}

// listenThenReset opens a listener on 127.0.0.1:0 that resets every connection
// right after accepting it (SO_LINGER 0), like a proxy or firewall that refuses
// the client, and returns its port.
func listenThenReset(t *testing.T) uint16 {
	return serveConns(t, func(c *net.TCPConn) { c.SetLinger(0) })
}

// serveConns listens on 127.0.0.1:0, runs handle on every accepted connection
// and then closes it; it returns the port.
func serveConns(t *testing.T, handle func(*net.TCPConn)) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// closedPort returns a loopback port nothing listens on (a connect is refused).
func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return port
}

// resolver starts a DNS server on loopback that knows records and returns a
// resolver that asks only it.
func resolver(t *testing.T, records map[string][]netip.Addr) tcp.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := dnstest.Serve(pc, records)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r, err := NewResolver(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
