// Package attempt defines what one probe attempt produces: a Result whose Code is
// one of a fixed set, the round-trip time and where that figure came from, and how
// an error from the network is classified into a Code.
//
// Every probe kind (tcp, echo, dns) returns a Result; the scheduler records it and
// the reporter sends it to the coordinators. The codes' names are the wire
// format's, defined once in proto/vocab; wire.go converts a Result to the wire
// format and back.
package attempt

import (
	"fmt"
	"time"

	"github.com/linkmesh/linkmesh/proto/vocab"
)

// Code is the outcome of one attempt. Every attempt ends in exactly one Code.
type Code int

// The codes, in the order DESIGN §3 lists them. The zero value is not a valid code.
const (
	// OK: the attempt succeeded.
	OK Code = iota + 1
	// Refused: the host answered with a reset to the SYN (or ICMP port unreachable):
	// it was reached, but nothing listens on the port.
	Refused
	// Timeout: no answer within the deadline; something dropped the packets.
	Timeout
	// Unreachable: an ICMP host/net unreachable or administratively prohibited came back.
	Unreachable
	// DNS: the target name did not resolve.
	DNS
	// Reset: the connection was accepted and then reset.
	Reset
	// Mismatch: something answered that is not the expected responder.
	Mismatch
	// Error: anything else; Result.Detail says what.
	Error
)

// String returns the name used in metrics labels and reports: the wire
// code's name in proto/vocab ("ok", "timeout", …), "code(N)" when not Valid.
func (c Code) String() string {
	if !c.Valid() {
		return fmt.Sprintf("code(%d)", int(c))
	}
	return vocab.CodeName(c.Proto())
}

// Valid reports whether c is one of the codes above.
func (c Code) Valid() bool { return c >= OK && c <= Error }

// RTTSource says where a Result's RTT came from.
type RTTSource int

const (
	// RTTNone: no RTT was measured (the attempt failed before one could be).
	RTTNone RTTSource = iota
	// RTTKernel: the kernel's own handshake figure (TCP_INFO tcpi_rtt on Linux,
	// SIO_TCP_INFO on Windows).
	RTTKernel
	// RTTConnect: the monotonic time the connect call took, measured in user space.
	RTTConnect
	// RTTApplication: round trips of application messages (the echo kind).
	RTTApplication
	// RTTLookup: the time a name lookup took (the dns kind).
	RTTLookup
)

// String returns the name used in logs and reports.
func (s RTTSource) String() string {
	switch s {
	case RTTKernel:
		return "kernel"
	case RTTConnect:
		return "connect"
	case RTTApplication:
		return "application"
	case RTTLookup:
		return "lookup"
	default:
		return "none"
	}
}

// Result is what one attempt produced.
type Result struct {
	// Code is the outcome; always set.
	Code Code
	// RTT is the round-trip time when Code is OK (and sometimes otherwise, e.g. a
	// refused connect still measures the RST's round trip); zero when not measured.
	RTT time.Duration
	// RTTSource says where RTT came from.
	RTTSource RTTSource
	// SYNRetransmits counts SYNs the kernel sent again before the handshake completed
	// (each one is a lost packet on the path); zero where the platform cannot tell.
	SYNRetransmits uint32
	// Detail is a short, human-readable description of what happened, for logs and
	// reports (the error text for failures).
	Detail string

	// Exchanges counts the packet exchanges of the attempt whose outcome tells
	// about loss on the path, and ExchangesLost those of them that lost a packet
	// on the way out or back: the SYN exchange of the handshake (tcp and echo)
	// and each echo round trip (see probe/tcp.Exchanges and docs/metrics.md,
	// linkmesh_path_loss_ratio). The coordinator estimates per-packet loss from
	// their sums. Both zero when the attempt says nothing about loss (a dns
	// attempt, an unreachable host, a malformed target).
	Exchanges, ExchangesLost uint32

	// The echo kind's figures; zero when not measured.

	// LossRatio is the share of the round trips' segments the kernels had to
	// send again (each resend is a packet lost on the path), in [0, 1].
	LossRatio float64
	// Jitter is the mean absolute difference between consecutive round trips.
	Jitter time.Duration
	// MTU is the largest packet, in bytes, that crossed the path in this
	// attempt's path-MTU check; 0 when the attempt made no check.
	MTU int
	// MTUBlackhole: the check found full-size packets dropped while smaller
	// ones pass, with no ICMP "fragmentation needed" to make TCP adapt.
	MTUBlackhole bool
	// Throughput is what the burst measured, in bits per second; 0 when the
	// attempt ran no burst.
	Throughput float64

	// Addresses are what the dns kind's name resolved to.
	Addresses []string
}
