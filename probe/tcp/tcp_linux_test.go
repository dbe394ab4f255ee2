//go:build linux

package tcp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/attempt"
)

// fullListener listens on 127.0.0.1 with a backlog of 1 and fills its accept queue
// (Linux holds backlog+1 connections), so the kernel drops the next SYN. Calling the
// returned func accepts one queued connection, making room for a retransmitted SYN.
// All of it stays on loopback.
func fullListener(t *testing.T) (addr string, makeRoom func()) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatalf("bind: %v", err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		t.Fatalf("listen: %v", err)
	}
	ln, err := net.FileListener(os.NewFile(uintptr(fd), "backlog-1"))
	unix.Close(fd) // FileListener holds its own duplicate
	if err != nil {
		t.Fatalf("file listener: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	addr = ln.Addr().String()

	for i := range 2 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("filling the accept queue, connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr, func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		c.Close()
	}
}

// listenOverflows reads TcpExt ListenOverflows from /proc/net/netstat: the number of
// SYNs the kernel dropped because an accept queue was full.
func listenOverflows(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/net/netstat")
	if err != nil {
		t.Fatalf("open netstat: %v", err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "ListenOverflows" && i < len(fields) {
				n, err := strconv.Atoi(fields[i])
				if err != nil {
					t.Fatalf("ListenOverflows %q: %v", fields[i], err)
				}
				return n
			}
		}
	}
	t.Fatalf("no TcpExt ListenOverflows in /proc/net/netstat")
	return 0
}

// dropFirstSYN starts connect (via dial) against a full accept queue, waits until the
// kernel has dropped its SYN, then makes room so the retransmitted SYN (after the
// 1 s initial RTO) gets through.
func dropFirstSYN[T any](t *testing.T, dial func(addr string) T) T {
	t.Helper()
	addr, makeRoom := fullListener(t)
	before := listenOverflows(t)
	done := make(chan T, 1)
	go func() { done <- dial(addr) }()
	waitfor.Cond(t, 5*time.Second, "the SYN to be dropped", func() bool { return listenOverflows(t) > before })
	makeRoom()
	select {
	case v := <-done:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("connect never completed")
		panic("unreachable")
	}
}

func timestampsOn(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_timestamps")
	if err != nil {
		t.Fatalf("read tcp_timestamps: %v", err)
	}
	return strings.TrimSpace(string(b)) != "0"
}

// TestSYNRetransmitCounted is the evidence for which tcp_info field counts SYN
// retransmissions, and for what tcpi_rtt holds after one (Karn's rule).
func TestSYNRetransmitCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the kernel's 1 s SYN retransmission")
	}
	t.Run("tcp_info fields", func(t *testing.T) {
		type dialed struct {
			ti      *unix.TCPInfo
			elapsed time.Duration
			err     error
		}
		got := dropFirstSYN(t, func(addr string) dialed {
			start := time.Now()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			elapsed := time.Since(start)
			if err != nil {
				return dialed{err: err}
			}
			defer c.Close()
			rc, err := c.(*net.TCPConn).SyscallConn()
			if err != nil {
				return dialed{err: err}
			}
			var ti *unix.TCPInfo
			var sysErr error
			if err := rc.Control(func(fd uintptr) {
				ti, sysErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			}); err != nil {
				return dialed{err: err}
			}
			return dialed{ti: ti, elapsed: elapsed, err: sysErr}
		})
		if got.err != nil {
			t.Fatalf("dial: %v", got.err)
		}
		ti := got.ti
		t.Logf("connect took %v; tcpi_total_retrans=%d tcpi_retransmits=%d tcpi_total_rto=%d tcpi_rtt=%dµs tcpi_options=%#x",
			got.elapsed, ti.Total_retrans, ti.Retransmits, ti.Total_rto, ti.Rtt, ti.Options)
		if got.elapsed < 900*time.Millisecond {
			t.Errorf("connect took %v, want ≥ 1 s (one RTO): the SYN was not retransmitted", got.elapsed)
		}
		if ti.Total_retrans != 1 {
			t.Errorf("tcpi_total_retrans = %d, want 1", ti.Total_retrans)
		}
		if ti.Retransmits != 0 {
			t.Errorf("tcpi_retransmits = %d, want 0 (cleared when the SYN-ACK arrives)", ti.Retransmits)
		}
	})

	t.Run("probe", func(t *testing.T) {
		var p Prober
		res := dropFirstSYN(t, func(addr string) attempt.Result {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return p.Probe(ctx, addr)
		})
		t.Logf("%+v", res)
		if res.Code != attempt.OK || res.SYNRetransmits != 1 {
			t.Fatalf("Code, SYNRetransmits = %v, %d; want ok, 1", res.Code, res.SYNRetransmits)
		}
		if timestampsOn(t) {
			// The sample comes from the echoed timestamp: whole milliseconds.
			if res.RTTSource != attempt.RTTKernel || res.RTT <= 0 || res.RTT%time.Millisecond != 0 || res.RTT > 100*time.Millisecond {
				t.Errorf("RTT = %v from %v, want a whole-millisecond kernel figure well under the 1 s RTO", res.RTT, res.RTTSource)
			}
		} else if res.RTTSource != attempt.RTTConnect || res.RTT < 900*time.Millisecond {
			// No timestamps: Karn leaves no kernel sample; the connect time includes the RTO.
			t.Errorf("RTT = %v from %v, want the connect time (≥ 1 s)", res.RTT, res.RTTSource)
		}
	})
}

// TestCloseDiscardsBanner: a peer that greets first has data in our receive queue at
// close time. A plain close then sends a RST; closeGracefully must still send a FIN.
func TestCloseDiscardsBanner(t *testing.T) {
	tests := []struct {
		name    string
		close   func(*net.TCPConn) error
		wantErr error
	}{
		{name: "plain close resets (the hazard)", close: (*net.TCPConn).Close, wantErr: syscall.ECONNRESET},
		{name: "graceful close sends FIN", close: closeGracefully, wantErr: io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			defer ln.Close()
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			client := c.(*net.TCPConn)
			server, err := ln.Accept()
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			defer server.Close()
			if _, err := server.Write([]byte("SSH-2.0-banner\r\n")); err != nil {
				t.Fatalf("write banner: %v", err)
			}
			waitfor.Cond(t, 5*time.Second, "the banner to reach the client", func() bool {
				return pendingBytes(t, client) > 0
			})

			if err := tt.close(client); err != nil {
				t.Fatalf("close: %v", err)
			}
			server.SetReadDeadline(time.Now().Add(5 * time.Second))
			var buf [16]byte
			n, err := server.Read(buf[:])
			if n != 0 || !errors.Is(err, tt.wantErr) {
				t.Errorf("server read %d bytes, err %v; want 0 bytes and %v", n, err, tt.wantErr)
			}
		})
	}
}

// pendingBytes is SIOCINQ: bytes received on c and not yet read.
func pendingBytes(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatalf("syscall conn: %v", err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ioErr != nil {
		t.Fatalf("SIOCINQ: %v, %v", err, ioErr)
	}
	return n
}

// TestProbeDroppedSYNTimesOut: a SYN that is silently dropped (here by a full accept
// queue, as a filtering firewall would) ends in Timeout at the attempt's deadline.
func TestProbeDroppedSYNTimesOut(t *testing.T) {
	addr, _ := fullListener(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	var p Prober
	res := p.Probe(ctx, addr)
	t.Logf("%+v", res)
	if res.Code != attempt.Timeout || res.RTTSource != attempt.RTTNone || res.RTT != 0 {
		t.Errorf("Probe = %+v, want timeout with no RTT", res)
	}
}
