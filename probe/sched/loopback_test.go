package sched

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe/attempt"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// dialProber is a real Prober: it connects to the target over TCP.
type dialProber struct{}

func (dialProber) Probe(ctx context.Context, t *linkmeshv1.Target, _ uint64) attempt.Result {
	var d net.Dialer
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(t.GetHost(), strconv.Itoa(int(t.GetPort()))))
	if err != nil {
		return attempt.Result{Code: attempt.Error, Detail: err.Error()}
	}
	rtt := time.Since(start)
	c.Close()
	return attempt.Result{Code: attempt.OK, RTT: rtt, RTTSource: attempt.RTTConnect, Detail: "connected"}
}

// TestLoopback runs a real prober against a listener on 127.0.0.1.
func TestLoopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	rec := &recorder{}
	plans, stop := running(t, dialProber{}, rec)
	port := ln.Addr().(*net.TCPAddr).Port
	tg := target("lo", 20*time.Millisecond, 10*time.Millisecond)
	tg.Port = uint32(port)
	plans <- plan(1, tg)
	waitfor.Cond(t, 3*time.Second, "3 recorded attempts", func() bool { return len(rec.forTarget("lo")) >= 3 })
	stop()
	for _, r := range rec.forTarget("lo") {
		if r.GetCode() != linkmeshv1.Code_CODE_OK || r.GetPort() != uint32(port) || r.GetRtt() == nil || r.GetRttSource() != linkmeshv1.RTTSource_RTT_SOURCE_CONNECT {
			t.Errorf("result: got %v, want CODE_OK on port %d with a connect RTT", r, port)
		}
	}
	waitfor.Cond(t, time.Second, "the listener to see the connections", func() bool {
		return int(accepted.Load()) >= len(rec.forTarget("lo"))
	})
}

// TestToProtoMarshals: whatever a prober puts in Detail, the result can be sent
// (proto3 strings must be valid UTF-8, or Marshal fails and the batch with it).
func TestToProtoMarshals(t *testing.T) {
	tg := target("a", time.Second, time.Second)
	for _, detail := range []string{
		"dial tcp 10.1.0.1:5023: connect: connection refused",
		"bad byte \xff in an OS message",
		strings.Repeat("\x80", 600),
		strings.Repeat("x", 499) + "\xe2\x82",
	} {
		r := attempt.ToProto(tg, time.Now(), attempt.Result{Code: attempt.Error, Detail: detail})
		r.Seq = 1
		if _, err := proto.Marshal(r); err != nil {
			t.Errorf("Marshal of the result for detail %q: %v", detail, err)
		}
		if len(r.GetDetail()) > 500 {
			t.Errorf("detail: got %d bytes, want at most 500", len(r.GetDetail()))
		}
	}
}

// TestRotationCoversRange: successive rounds of a port range cover every port
// once per sweep, sample ports a round.
func TestRotationCoversRange(t *testing.T) {
	tests := []struct {
		name             string
		lo, hi, sample   uint32
		wantPerRound     int
		roundsToCoverAll int
	}{
		{"single port", 5022, 0, 0, 1, 1},
		{"range of 10, 3 a round", 11000, 11009, 3, 3, 4},
		{"range of 1000, 4 a round", 11000, 11999, 4, 4, 250},
		{"sample above size", 20000, 20001, 5, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRotation(&linkmeshv1.Target{Port: tt.lo, PortEnd: tt.hi, Sample: tt.sample})
			seen := map[uint32]bool{}
			for range tt.roundsToCoverAll {
				ports := r.next()
				if len(ports) != tt.wantPerRound {
					t.Fatalf("round of %d ports, want %d", len(ports), tt.wantPerRound)
				}
				for _, p := range ports {
					hi := max(tt.hi, tt.lo)
					if p < tt.lo || p > hi {
						t.Fatalf("port %d outside %d-%d", p, tt.lo, hi)
					}
					seen[p] = true
				}
			}
			if want := int(max(tt.hi, tt.lo) - tt.lo + 1); len(seen) != want {
				t.Errorf("covered %d ports in %d rounds, want all %d", len(seen), tt.roundsToCoverAll, want)
			}
		})
	}
}
