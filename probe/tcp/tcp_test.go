package tcp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// peerRead is what the server side saw on one accepted connection.
type peerRead struct {
	n   int
	err error
}

// startServer listens on 127.0.0.1:0 and, for every accepted connection, reads
// until the client closes and reports what it read on the returned channel.
func startServer(t testing.TB) (addr string, seen <-chan peerRead) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ch := make(chan peerRead, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed by cleanup
			}
			wg.Go(func() {
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				var buf [64]byte
				n, err := conn.Read(buf[:])
				select {
				case ch <- peerRead{n: n, err: err}:
				default: // a benchmark does not collect them
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), ch
}

// freePort returns a loopback address on which nothing listens.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// wantKernelRTT is the RTT source a loopback connect yields on this platform.
func wantKernelRTT() attempt.RTTSource {
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		return attempt.RTTKernel
	}
	return attempt.RTTConnect
}

func TestProbe(t *testing.T) {
	server, seen := startServer(t)
	_, port, _ := net.SplitHostPort(server)

	tests := []struct {
		name       string
		prober     Prober
		addr       string
		timeout    time.Duration // 0: a deadline already past
		want       attempt.Code
		wantSource attempt.RTTSource
		wantDetail string
		peer       bool // the server accepted: check it saw a clean close
	}{
		{name: "listening port", addr: server, timeout: 5 * time.Second,
			want: attempt.OK, wantSource: wantKernelRTT(), wantDetail: "connected in", peer: true},
		{name: "name resolving to loopback", prober: Prober{Resolver: fakeDNS(t, dnsLoopback)},
			addr: net.JoinHostPort("target.linkmesh.invalid", port), timeout: 5 * time.Second,
			want: attempt.OK, wantSource: wantKernelRTT(), wantDetail: "connected to " + server, peer: true},
		{name: "source address", prober: Prober{SourceAddr: mustAddr(t, "127.0.0.1")},
			addr: server, timeout: 5 * time.Second,
			want: attempt.OK, wantSource: wantKernelRTT(), peer: true},
		{name: "closed port", addr: freePort(t), timeout: 5 * time.Second,
			want: attempt.Refused, wantSource: attempt.RTTConnect, wantDetail: "refused"},
		{name: "name does not exist", prober: Prober{Resolver: fakeDNS(t, dnsNXDomain)},
			addr: "target.linkmesh.invalid:5022", timeout: 5 * time.Second,
			want: attempt.DNS, wantDetail: "no such host"},
		{name: "dns server never answers", prober: Prober{Resolver: fakeDNS(t, dnsSilent)},
			addr: "target.linkmesh.invalid:5022", timeout: 300 * time.Millisecond,
			want: attempt.DNS, wantDetail: "target.linkmesh.invalid"},
		{name: "deadline already past", addr: server, timeout: 0,
			want: attempt.Timeout, wantDetail: "deadline"},
		{name: "missing port", addr: "127.0.0.1", timeout: 5 * time.Second,
			want: attempt.Error, wantDetail: "missing port"},
		{name: "port out of range", addr: "127.0.0.1:70000", timeout: 5 * time.Second,
			want: attempt.Error, wantDetail: "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			if tt.timeout == 0 {
				<-ctx.Done()
			}
			res := tt.prober.Probe(ctx, tt.addr)
			t.Logf("%+v", res)

			if res.Code != tt.want {
				t.Fatalf("Code = %v, want %v (detail %q)", res.Code, tt.want, res.Detail)
			}
			if res.RTTSource != tt.wantSource {
				t.Errorf("RTTSource = %v, want %v", res.RTTSource, tt.wantSource)
			}
			if (res.RTTSource != attempt.RTTNone) != (res.RTT > 0) {
				t.Errorf("RTT = %v with source %v, want RTT > 0 exactly when measured", res.RTT, res.RTTSource)
			}
			if res.SYNRetransmits != 0 {
				t.Errorf("SYNRetransmits = %d on loopback, want 0", res.SYNRetransmits)
			}
			if res.Detail == "" || !strings.Contains(res.Detail, tt.wantDetail) {
				t.Errorf("Detail = %q, want it to contain %q", res.Detail, tt.wantDetail)
			}
			if tt.peer {
				checkCleanClose(t, seen)
			}
		})
	}
}

// checkCleanClose waits for the server's report on the next accepted connection: it
// must have read no bytes and then io.EOF (a FIN), not ECONNRESET.
func checkCleanClose(t *testing.T, seen <-chan peerRead) {
	t.Helper()
	select {
	case got := <-seen:
		if got.n != 0 || !errors.Is(got.err, io.EOF) {
			t.Errorf("peer read %d bytes, err %v; want 0 bytes and io.EOF (a clean FIN)", got.n, got.err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("peer never reported a read")
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return a
}

func BenchmarkProbeLoopback(b *testing.B) {
	server, _ := startServer(b)
	var p Prober
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(b.Context(), 5*time.Second)
		res := p.Probe(ctx, server)
		cancel()
		if res.Code != attempt.OK {
			b.Fatalf("Probe = %+v, want ok", res)
		}
	}
}
