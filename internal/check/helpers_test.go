package check

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"github.com/linkmesh/linkmesh/internal/dnstest"
	"github.com/linkmesh/linkmesh/probe/tcp"
)

// listen opens a listener on 127.0.0.1:0 that accepts and closes every
// connection, like an endpoint that completes the handshake, and returns its port.
func listen(t *testing.T) uint16 {
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
			c.Close()
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
