package tcp

import (
	"context"
	"math"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

func TestCountHandshake(t *testing.T) {
	first := SYNSchedule(runtime.GOOS)[1]
	tests := []struct {
		name    string
		code    attempt.Code
		elapsed time.Duration
		k       kernelInfo
		n, lost uint32
	}{
		{"clean connect", attempt.OK, time.Millisecond, kernelInfo{known: true}, 1, 0},
		{"SYN resent: the first exchange lost, later ones not counted", attempt.OK, first + 2*time.Millisecond, kernelInfo{known: true, synRetransmits: 2}, 1, 1},
		{"no SYN resent but the connect took a retransmission's time", attempt.OK, first + time.Millisecond, kernelInfo{known: true}, 1, 1},
		{"platform without kernel figures, fast", attempt.OK, time.Millisecond, kernelInfo{}, 1, 0},
		{"refused at once: the RST is an answer", attempt.Refused, time.Millisecond, kernelInfo{}, 1, 0},
		{"refused after a retransmission", attempt.Refused, first + time.Millisecond, kernelInfo{}, 1, 1},
		{"timeout", attempt.Timeout, 300 * time.Millisecond, kernelInfo{}, 1, 1},
		{"long timeout: still one exchange", attempt.Timeout, 20 * time.Second, kernelInfo{}, 1, 1},
		{"unreachable says nothing about loss", attempt.Unreachable, time.Millisecond, kernelInfo{}, 0, 0},
		{"dns says nothing", attempt.DNS, time.Millisecond, kernelInfo{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := attempt.Result{Code: tt.code}
			countHandshake(&res, tt.elapsed, tt.k)
			if res.Exchanges != tt.n || res.ExchangesLost != tt.lost {
				t.Errorf("got %d exchanges, %d lost; want %d, %d", res.Exchanges, res.ExchangesLost, tt.n, tt.lost)
			}
		})
	}
}

func TestSYNSchedule(t *testing.T) {
	if got := SYNSchedule("linux")[1]; got != time.Second {
		t.Errorf("linux first SYN retransmission %v, want 1s", got)
	}
	if got := SYNSchedule("windows")[1]; got != 3*time.Second {
		t.Errorf("windows first SYN retransmission %v, want 3s", got)
	}
}

func TestPacketLoss(t *testing.T) {
	for _, tt := range []struct {
		n, lost uint32
		want    float64
	}{{0, 0, 0}, {100, 0, 0}, {100, 51, 0.3}, {100, 19, 0.1}, {10, 10, 1}, {10, 12, 1}} {
		if got := PacketLoss(tt.n, tt.lost); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("PacketLoss(%d, %d) = %v, want %v", tt.n, tt.lost, got, tt.want)
		}
	}
}

// TestConnectCountsExchanges: real loopback connects carry their exchange.
func TestConnectCountsExchanges(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var p Prober
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res := p.Probe(ctx, addr); res.Code != attempt.OK || res.Exchanges != 1 || res.ExchangesLost != 0 {
		t.Errorf("ok: %s, %d exchanges, %d lost; want ok, 1, 0", res.Code, res.Exchanges, res.ExchangesLost)
	}
	ln.Close()
	if res := p.Probe(ctx, addr); res.Code != attempt.Refused || res.Exchanges != 1 || res.ExchangesLost != 0 {
		t.Errorf("refused: %s, %d exchanges, %d lost; want refused, 1, 0", res.Code, res.Exchanges, res.ExchangesLost)
	}
}
