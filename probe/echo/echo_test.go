package echo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/responder"
	"github.com/linkmesh/linkmesh/probe/responder/wire"
)

var (
	key      = bytes.Repeat([]byte{1}, 32)
	otherKey = bytes.Repeat([]byte{2}, 32)
)

// startResponder runs a real responder on 127.0.0.1:0.
func startResponder(t testing.TB, k []byte) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := responder.New(responder.Config{Key: k}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// startServer runs handle for every connection on 127.0.0.1:0.
func startServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); handle(c) })
		}
	})
	t.Cleanup(func() {
		lis.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return lis.Addr().String()
}

func closedPort(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestProbe(t *testing.T) {
	good := startResponder(t, key)
	tests := []struct {
		name       string
		prober     Prober
		addr       string
		opts       Options
		timeout    time.Duration
		want       attempt.Code
		wantDetail string
	}{
		{name: "responder of this mesh", prober: Prober{Key: key}, addr: good, opts: Options{Rounds: 5},
			want: attempt.OK, wantDetail: "responder proved the mesh key; 5 round trips"},
		{name: "with mtu check and burst", prober: Prober{Key: key}, addr: good,
			opts: Options{Rounds: 3, MTU: true, BurstBytes: 4 << 20, BurstTime: 2 * time.Second},
			want: attempt.OK, wantDetail: "no black hole; burst of 4.0 MiB"},
		{name: "burst without time left in the attempt", prober: Prober{Key: key}, addr: good, timeout: time.Second,
			opts: Options{Rounds: 2, BurstBytes: 1 << 20}, want: attempt.OK, wantDetail: "no time left in the attempt"},
		{name: "responder of another mesh", prober: Prober{Key: otherKey}, addr: good,
			want: attempt.Mismatch, wantDetail: "another mesh key"},
		{name: "responder without a key", prober: Prober{Key: key}, addr: startResponder(t, nil),
			want: attempt.Mismatch, wantDetail: "--mesh-key-file"},
		{name: "accepts and closes (a firewall answering SYNs)", prober: Prober{Key: key},
			addr: startServer(t, func(net.Conn) {}), want: attempt.Mismatch, wantDetail: "not a linkmesh responder"},
		{name: "accepts and stays silent", prober: Prober{Key: key}, timeout: 300 * time.Millisecond,
			addr: startServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }), want: attempt.Mismatch, wantDetail: "no answer to the hello"},
		{name: "another protocol answers", prober: Prober{Key: key},
			addr: startServer(t, func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }),
			want: attempt.Mismatch, wantDetail: `first bytes "HTTP/1.1"`},
		{name: "nothing listens", prober: Prober{Key: key}, addr: closedPort(t), want: attempt.Refused},
		{name: "this probe has no key", prober: Prober{}, addr: good, want: attempt.Error, wantDetail: "--mesh-key-file"},
		{name: "deadline already past", prober: Prober{Key: key}, addr: good, timeout: -1, want: attempt.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), max(timeout, 0))
			defer cancel()
			res := tt.prober.Probe(ctx, tt.addr, tt.opts)
			if res.Code != tt.want || !strings.Contains(res.Detail, tt.wantDetail) {
				t.Fatalf("got %s %q, want %s containing %q", res.Code, res.Detail, tt.want, tt.wantDetail)
			}
			if res.Code != attempt.OK {
				return
			}
			if res.RTTSource != attempt.RTTApplication || res.RTT <= 0 {
				t.Errorf("rtt %v from %s, want a positive application RTT", res.RTT, res.RTTSource)
			}
			if tt.opts.MTU && (res.MTU < 1500 || res.MTUBlackhole) {
				t.Errorf("loopback: mtu %d, black hole %v; want ≥ 1500 and none", res.MTU, res.MTUBlackhole)
			}
			if (tt.opts.BurstBytes > 0 && tt.timeout == 0) != (res.Throughput > 0) {
				t.Errorf("throughput %v with burst %d", res.Throughput, tt.opts.BurstBytes)
			}
			// Loopback loses nothing: the handshake's exchange and one per
			// round trip asked for, none lost.
			if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
				if want := uint32(1 + tt.opts.Rounds); res.Exchanges != want || res.ExchangesLost != 0 {
					t.Errorf("exchanges %d, lost %d; want %d, 0", res.Exchanges, res.ExchangesLost, want)
				}
			}
		})
	}
}

// TestBlackhole runs the echo kind against a responder stand-in that never
// acknowledges MTU frames whose payload exceeds limit and stops reading, as a
// path that drops full-size packets without ICMP does.
func TestBlackhole(t *testing.T) {
	const limit = 1300
	addr := startServer(t, func(c net.Conn) { blackholeResponder(c, limit) })
	p := Prober{Key: key}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res := p.Probe(ctx, addr, Options{Rounds: 3, MTU: true, BurstBytes: 1 << 20})
	// Loopback segments carry 52 bytes of IP and TCP headers with timestamps.
	want := limit + wire.HeaderSize + 52
	if res.Code != attempt.OK || !res.MTUBlackhole || res.MTU != want {
		t.Fatalf("got %s mtu %d blackhole %v %q; want ok, black hole, mtu %d", res.Code, res.MTU, res.MTUBlackhole, res.Detail, want)
	}
	for _, w := range []string{"PATH-MTU BLACK HOLE", "exactly 1360 bytes", "clamp the TCP MSS", "to 1320", "burst skipped"} {
		if !strings.Contains(res.Detail, w) {
			t.Errorf("detail %q lacks %q", res.Detail, w)
		}
	}
	if res.Throughput != 0 {
		t.Errorf("throughput %v after a black hole; want none measured", res.Throughput)
	}
}

func blackholeResponder(c net.Conn, limit int) {
	buf := make([]byte, wire.MaxPayload)
	h, p, err := wire.ReadFrame(c, buf)
	if err != nil || h.Type != wire.Hello {
		return
	}
	sh := wire.ServerHello{Name: "mi1"}
	rand.Read(sh.Nonce[:])
	wire.WriteFrame(c, wire.HelloReply, sh.Marshal(key, p))
	if h, _, err = wire.ReadFrame(c, buf); err != nil || h.Type != wire.Auth {
		return
	}
	wire.WriteFrame(c, wire.AuthOK, nil)
	for {
		h, p, err := wire.ReadFrame(c, buf)
		if err != nil {
			return
		}
		switch h.Type {
		case wire.Echo:
			wire.WriteFrame(c, wire.EchoReply, p)
		case wire.MTU:
			if len(p) > limit {
				io.Copy(io.Discard, c) // the packet "never arrives": no answer, ever
				return
			}
			wire.WriteFrame(c, wire.MTUAck, binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		default:
			return
		}
	}
}
