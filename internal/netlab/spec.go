package netlab

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what a Fault does to the packets it matches. Test code picks one
// when it builds a Fault for Lab.Inject.
type Kind int

// The kinds of fault the router can inject.
const (
	// Drop silently drops matching packets: a dial times out.
	Drop Kind = iota + 1
	// RejectReset answers matching packets with a TCP reset: ECONNREFUSED.
	RejectReset
	// RejectICMP answers matching packets with the ICMP error in Fault.ICMP.
	RejectICMP
	// Loss drops matching packets at random with probability Fault.Ratio.
	Loss
	// MTUBlackhole lowers the MTU of the router's link toward To to Fault.MTU
	// and drops the "fragmentation needed" errors the router would send back,
	// so full-size packets from From to To vanish. Matches all traffic; Port
	// must be 0.
	MTUBlackhole
	// Delay holds matching packets for Fault.Delay in the NFQUEUE delayer.
	// Delay rules come after all other rules, so Drop or Loss still apply.
	Delay
	// Rate limits everything the router sends toward To to Fault.Rate bits/s
	// with a tbf qdisc. Port must be 0.
	Rate
	// Redirect sends new TCP connections from From to To:Port to
	// Fault.RedirectPort on the router itself (a middlebox that answers SYNs).
	Redirect
)

var kindNames = map[Kind]string{
	Drop: "drop", RejectReset: "reject-reset", RejectICMP: "reject-icmp",
	Loss: "loss", MTUBlackhole: "mtu-blackhole", Delay: "delay", Rate: "rate",
	Redirect: "redirect",
}

// String returns the kind's name as used in logs, e.g. "reject-icmp".
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// ICMPType is the ICMP error a RejectICMP fault answers with; the values are
// iptables' --reject-with names.
type ICMPType string

// The ICMP errors RejectICMP can send, and what a Go dialer then sees.
const (
	HostUnreachable  ICMPType = "icmp-host-unreachable"  // EHOSTUNREACH
	NetUnreachable   ICMPType = "icmp-net-unreachable"   // ENETUNREACH
	PortUnreachable  ICMPType = "icmp-port-unreachable"  // ECONNREFUSED
	AdminProhibited  ICMPType = "icmp-admin-prohibited"  // EHOSTUNREACH
	HostProhibited   ICMPType = "icmp-host-prohibited"   // EHOSTUNREACH
	NetProhibited    ICMPType = "icmp-net-prohibited"    // ENETUNREACH
	ProtoUnreachable ICMPType = "icmp-proto-unreachable" // ENOPROTOOPT
)

// Fault describes one fault on the router for packets travelling from host
// From to host To (one direction only). Tests build it and pass it to
// Lab.Inject; Reverse gives the fault for the opposite direction.
type Fault struct {
	Kind Kind
	// From and To are host names (not the router) and must differ.
	From, To string
	// Port matches TCP packets whose destination port is Port, or in
	// Port..PortEnd when PortEnd is set. 0 matches all TCP.
	Port, PortEnd uint16
	// SrcPort matches TCP packets whose source port is SrcPort, or in
	// SrcPort..SrcPortEnd: the replies of a server listening on From.
	SrcPort, SrcPortEnd uint16
	// Proto is the protocol matched: "" or "tcp", or "udp" (Drop, Loss and
	// RejectICMP only; e.g. to cut gossip, which runs over both).
	Proto string
	// ICMP is the error RejectICMP answers with.
	ICMP ICMPType
	// Ratio is Loss's drop probability, in (0, 1].
	Ratio float64
	// MTU is MTUBlackhole's MTU for the router's link toward To (≥ 576).
	MTU int
	// Delay is Delay's one-way delay (0 only queues, to measure queue cost).
	Delay time.Duration
	// Rate is Rate's limit in bits per second.
	Rate uint64
	// RedirectPort is Redirect's port on the router.
	RedirectPort uint16
}

// Reverse returns the same fault for the opposite direction: From and To
// swapped, and destination and source ports swapped, so that it matches the
// replies to the traffic f matches. Inject(f, f.Reverse()) faults both ways.
func (f Fault) Reverse() Fault {
	r := f
	r.From, r.To = f.To, f.From
	r.Port, r.PortEnd, r.SrcPort, r.SrcPortEnd = f.SrcPort, f.SrcPortEnd, f.Port, f.PortEnd
	return r
}

// String describes the fault for logs, e.g. "drop sql->mi dport 5022".
func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s->%s", f.Kind, f.From, f.To)
	if f.Proto == "udp" {
		b.WriteString(" udp")
	}
	if f.Port != 0 {
		fmt.Fprintf(&b, " dport %s", portSpec(f.Port, f.PortEnd))
	}
	if f.SrcPort != 0 {
		fmt.Fprintf(&b, " sport %s", portSpec(f.SrcPort, f.SrcPortEnd))
	}
	switch f.Kind {
	case RejectICMP:
		fmt.Fprintf(&b, " with %s", f.ICMP)
	case Loss:
		fmt.Fprintf(&b, " ratio %g", f.Ratio)
	case MTUBlackhole:
		fmt.Fprintf(&b, " mtu %d", f.MTU)
	case Delay:
		fmt.Fprintf(&b, " %s", f.Delay)
	case Rate:
		fmt.Fprintf(&b, " %d bit/s", f.Rate)
	case Redirect:
		fmt.Fprintf(&b, " to router:%d", f.RedirectPort)
	}
	return b.String()
}

// portSpec renders a port or range the way iptables writes it ("5022", "1:9").
func portSpec(lo, hi uint16) string {
	if hi == 0 || hi == lo {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d:%d", lo, hi)
}
