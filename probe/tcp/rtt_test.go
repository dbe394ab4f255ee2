package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

func TestChooseRTT(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name       string
		connect    time.Duration
		kernel     kernelInfo
		wantRTT    time.Duration
		wantSource attempt.RTTSource
	}{
		{name: "kernel sample", connect: 2100 * time.Microsecond, kernel: kernelInfo{rtt: 2 * ms},
			wantRTT: 2 * ms, wantSource: attempt.RTTKernel},
		{name: "no kernel figure", connect: 2100 * time.Microsecond,
			wantRTT: 2100 * time.Microsecond, wantSource: attempt.RTTConnect},
		{name: "SYN lost, timestamp sample", connect: 1003 * ms, kernel: kernelInfo{rtt: 2 * ms, synRetransmits: 1},
			wantRTT: 2 * ms, wantSource: attempt.RTTKernel},
		{name: "SYN lost, Karn left no sample", connect: 1003 * ms, kernel: kernelInfo{synRetransmits: 1},
			wantRTT: 1003 * ms, wantSource: attempt.RTTConnect},
		{name: "kernel figure larger than the connect is not this handshake", connect: 2 * ms, kernel: kernelInfo{rtt: 300 * ms},
			wantRTT: 2 * ms, wantSource: attempt.RTTConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtt, src := chooseRTT(tt.connect, tt.kernel)
			if rtt != tt.wantRTT || src != tt.wantSource {
				t.Errorf("chooseRTT(%v, %+v) = %v, %v; want %v, %v", tt.connect, tt.kernel, rtt, src, tt.wantRTT, tt.wantSource)
			}
		})
	}
}

func TestOKDetail(t *testing.T) {
	raddr := netip.MustParseAddrPort("10.0.0.5:5022")
	tests := []struct {
		name   string
		target string
		k      kernelInfo
		src    attempt.RTTSource
		want   string
	}{
		{name: "kernel", target: "10.0.0.5:5022", k: kernelInfo{rtt: 50 * time.Microsecond}, src: attempt.RTTKernel,
			want: "connected in 0.21 ms (kernel rtt 0.05 ms)"},
		{name: "name and retransmits", target: "sqlmi.example:5022", k: kernelInfo{synRetransmits: 2}, src: attempt.RTTConnect,
			want: "connected to 10.0.0.5:5022 in 0.21 ms after 2 SYN retransmits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := okDetail(raddr, tt.target, 210*time.Microsecond, tt.k, tt.src); got != tt.want {
				t.Errorf("okDetail = %q, want %q", got, tt.want)
			}
		})
	}
}
