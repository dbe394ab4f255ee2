//go:build linux

package netlab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Injection is a set of faults in force on the router, made by Lab.Inject.
// Tests call Remove (any time, also while traffic flows) to take them out;
// the lab's teardown removes those still in force.
type Injection struct {
	lab      *Lab
	faults   []Fault
	undo     []func() error // run last to first by Remove
	delayers []*delayer
	once     sync.Once
	err      error
}

// Inject puts faults in force on the router, all or none. Test code calls it
// like
//
//	inj, err := lab.Inject(netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: 5022})
//	defer inj.Remove()
//
// Filter faults go first in the router's FORWARD chain (newest first); Delay
// rules go last, so a Drop or Loss still applies to delayed traffic.
func (l *Lab) Inject(faults ...Fault) (*Injection, error) {
	l.tb.Helper()
	inj := &Injection{lab: l, faults: faults}
	for _, f := range faults {
		if err := l.inject(inj, f); err != nil {
			return nil, errors.Join(fmt.Errorf("inject %s: %w", f, err), inj.runUndo())
		}
	}
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.active = append(l.active, inj)
	}
	l.mu.Unlock()
	if closed {
		return nil, errors.Join(errors.New("inject: lab is closed"), inj.runUndo())
	}
	l.tb.Logf("netlab %s: inject %v", l.id, faults)
	return inj, nil
}

// Remove takes the injection's faults out of the router, restores MTUs and
// qdiscs, and stops its delayers after they released every held packet.
// Calling it again returns the first call's result.
func (inj *Injection) Remove() error {
	inj.once.Do(func() {
		l := inj.lab
		l.mu.Lock()
		l.active = slices.DeleteFunc(l.active, func(o *Injection) bool { return o == inj })
		l.mu.Unlock()
		inj.err = inj.runUndo()
		l.tb.Logf("netlab %s: removed %v", l.id, inj.faults)
	})
	return inj.err
}

// MedianLateness is the median of how late the injection's delayers released
// the packets they held (past the fault's delay), over the latest 4096 of
// each: how much the harness itself — its timers, on a noisy machine — added
// to the delay. 0 without delayers.
func (inj *Injection) MedianLateness() time.Duration {
	var all []time.Duration
	for _, d := range inj.delayers {
		all = append(all, d.lateness()...)
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[len(all)/2]
}

// Dropped returns how many packets the injection's delayers dropped because
// their queue was full (in the delayer or in the kernel).
func (inj *Injection) Dropped() uint64 {
	var n uint64
	for _, d := range inj.delayers {
		n += d.droppedCount()
	}
	return n
}

func (inj *Injection) runUndo() error {
	var errs []error
	for i := len(inj.undo) - 1; i >= 0; i-- {
		errs = append(errs, inj.undo[i]())
	}
	inj.undo = nil
	return errors.Join(errs...)
}

// inject sets up one fault and records how to undo it in inj.
func (l *Lab) inject(inj *Injection, f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	from, to := l.lookup(f.From), l.lookup(f.To)
	if from == nil || to == nil || from == l.router || to == l.router {
		return fmt.Errorf("from and to must be hosts of the lab other than the router")
	}
	l.mu.Lock()
	l.nextRule++
	comment := fmt.Sprintf("netlab-%s-%d", l.id, l.nextRule)
	l.mu.Unlock()
	proto := "tcp"
	if f.Proto != "" {
		proto = f.Proto
	}
	match := []string{"-p", proto, "-s", from.addr.String(), "-d", to.addr.String()}
	if f.Port != 0 {
		match = append(match, "--dport", portSpec(f.Port, f.PortEnd))
	}
	if f.SrcPort != 0 {
		match = append(match, "--sport", portSpec(f.SrcPort, f.SrcPortEnd))
	}
	match = append(match, "-m", "comment", "--comment", comment)
	switch f.Kind {
	case Drop:
		return l.addRule(inj, "filter", "FORWARD", true, append(match, "-j", "DROP"))
	case RejectReset:
		return l.addRule(inj, "filter", "FORWARD", true, append(match, "-j", "REJECT", "--reject-with", "tcp-reset"))
	case RejectICMP:
		return l.addRule(inj, "filter", "FORWARD", true, append(match, "-j", "REJECT", "--reject-with", string(f.ICMP)))
	case Loss:
		return l.addRule(inj, "filter", "FORWARD", true, append(match, "-m", "statistic", "--mode", "random",
			"--probability", strconv.FormatFloat(f.Ratio, 'f', -1, 64), "-j", "DROP"))
	case Redirect:
		return l.addRule(inj, "nat", "PREROUTING", false, append(match, "-j", "REDIRECT",
			"--to-ports", strconv.Itoa(int(f.RedirectPort))))
	case Delay:
		return l.injectDelay(inj, f, match)
	case MTUBlackhole:
		return l.injectMTU(inj, f, from, to, comment)
	case Rate:
		return l.injectRate(inj, f, to)
	}
	return fmt.Errorf("unknown kind %v", f.Kind)
}

// addRule adds an iptables rule in the router's namespace and records its
// exact deletion (same table, chain and spec, including the unique comment).
func (l *Lab) addRule(inj *Injection, table, chain string, insert bool, spec []string) error {
	op := "-A"
	if insert {
		op = "-I"
	}
	base := []string{"-w", "5", "-t", table}
	if err := l.router.run("", "iptables", slices.Concat(base, []string{op, chain}, spec)...); err != nil {
		return err
	}
	inj.undo = append(inj.undo, func() error {
		return l.router.run("", "iptables", slices.Concat(base, []string{"-D", chain}, spec)...)
	})
	return nil
}

// injectDelay binds a delayer to a fresh queue number, then queues the
// matching packets to it (in that order: an unbound queue drops packets).
// Undo deletes the rule first, then lets the delayer drain.
func (l *Lab) injectDelay(inj *Injection, f Fault, match []string) error {
	l.mu.Lock()
	l.nextQueue++
	queue := l.nextQueue
	l.mu.Unlock()
	d, err := startDelayer(l.router, queue, f.Delay)
	if err != nil {
		return err
	}
	inj.delayers = append(inj.delayers, d)
	inj.undo = append(inj.undo, d.stop)
	return l.addRule(inj, "filter", "FORWARD", false,
		append(match, "-j", "NFQUEUE", "--queue-num", strconv.Itoa(int(queue))))
}

// injectMTU lowers the MTU of the router's link toward to and drops the
// fragmentation-needed errors the router then sends to from (router-made ICMP
// leaves through OUTPUT). A veth checks its peer's MTU on receive, so it is
// the router's side toward the receiver that must shrink.
func (l *Lab) injectMTU(inj *Injection, f Fault, from, to *Host, comment string) error {
	dev := to.routerIf
	if !l.claim(l.busyMTU, dev) {
		return fmt.Errorf("router link %s already has an mtu fault", dev)
	}
	inj.undo = append(inj.undo, func() error { l.release(l.busyMTU, dev); return nil })
	var orig int
	if err := l.router.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			orig = ifi.MTU
		}
		return err
	}); err != nil {
		return fmt.Errorf("read mtu of %s: %w", dev, err)
	}
	if f.MTU >= orig {
		return fmt.Errorf("mtu %d is not below %s's mtu %d", f.MTU, dev, orig)
	}
	if err := l.addRule(inj, "filter", "OUTPUT", true, []string{"-p", "icmp", "--icmp-type", "fragmentation-needed",
		"-d", from.addr.String(), "-m", "comment", "--comment", comment, "-j", "DROP"}); err != nil {
		return err
	}
	if err := l.router.run("", "ip", "link", "set", "dev", dev, "mtu", strconv.Itoa(f.MTU)); err != nil {
		return err
	}
	inj.undo = append(inj.undo, func() error {
		return errors.Join(l.router.run("", "ip", "link", "set", "dev", dev, "mtu", strconv.Itoa(orig)), flushRoutes(from))
	})
	return flushRoutes(from)
}

// flushRoutes forgets the routes and path MTUs h has cached ("ip route flush
// cache"), in h's namespace.
func flushRoutes(h *Host) error {
	return h.Do(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/route/flush", []byte("1"), 0o200); err != nil {
			return fmt.Errorf("flush route cache in %s: %w", h.name, err)
		}
		return nil
	})
}

// injectRate puts a tbf qdisc on the router's link toward to.
func (l *Lab) injectRate(inj *Injection, f Fault, to *Host) error {
	dev := to.routerIf
	if !l.claim(l.busyRate, dev) {
		return fmt.Errorf("router link %s already has a rate fault", dev)
	}
	inj.undo = append(inj.undo, func() error { l.release(l.busyRate, dev); return nil })
	// Burst: 10 ms worth of bytes, at least a few full frames.
	burst := max(f.Rate/8/100, 4*1514)
	if err := l.router.run("", "tc", "qdisc", "add", "dev", dev, "root", "tbf",
		"rate", strconv.FormatUint(f.Rate, 10)+"bit", "burst", strconv.FormatUint(burst, 10), "latency", "50ms"); err != nil {
		return err
	}
	inj.undo = append(inj.undo, func() error {
		return l.router.run("", "tc", "qdisc", "del", "dev", dev, "root")
	})
	return nil
}

// claim marks a router link as used by one fault of a kind; release frees it.
func (l *Lab) claim(busy map[string]bool, dev string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if busy[dev] {
		return false
	}
	busy[dev] = true
	return true
}

func (l *Lab) release(busy map[string]bool, dev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(busy, dev)
}

var icmpTypes = map[ICMPType]bool{
	HostUnreachable: true, NetUnreachable: true, PortUnreachable: true,
	AdminProhibited: true, HostProhibited: true, NetProhibited: true,
	ProtoUnreachable: true,
}

// validate checks the fields the kind needs; host names are checked by the lab.
func (f Fault) validate() error {
	if f.From == "" || f.To == "" || f.From == f.To {
		return fmt.Errorf("fault %s: from and to must be two different hosts", f)
	}
	if f.PortEnd != 0 && f.PortEnd < f.Port || f.PortEnd != 0 && f.Port == 0 {
		return fmt.Errorf("fault %s: bad destination port range", f)
	}
	if f.SrcPortEnd != 0 && f.SrcPortEnd < f.SrcPort || f.SrcPortEnd != 0 && f.SrcPort == 0 {
		return fmt.Errorf("fault %s: bad source port range", f)
	}
	anyPort := f.Port != 0 || f.SrcPort != 0
	switch f.Proto {
	case "", "tcp":
	case "udp":
		if f.Kind != Drop && f.Kind != Loss && f.Kind != RejectICMP {
			return fmt.Errorf("fault %s: udp works with drop, loss and reject-icmp only", f)
		}
	default:
		return fmt.Errorf("fault %s: proto must be tcp or udp", f)
	}
	switch f.Kind {
	case Drop, RejectReset:
	case RejectICMP:
		if !icmpTypes[f.ICMP] {
			return fmt.Errorf("fault %s: unknown icmp type %q", f, f.ICMP)
		}
	case Loss:
		if !(f.Ratio > 0 && f.Ratio <= 1) {
			return fmt.Errorf("fault %s: ratio must be in (0, 1]", f)
		}
	case MTUBlackhole:
		if f.MTU < 576 || anyPort {
			return fmt.Errorf("fault %s: needs mtu >= 576 and no ports", f)
		}
	case Delay:
		if f.Delay < 0 || f.Delay > time.Minute {
			return fmt.Errorf("fault %s: delay must be in [0, 1m]", f)
		}
	case Rate:
		if f.Rate < 8000 || anyPort {
			return fmt.Errorf("fault %s: needs rate >= 8000 bit/s and no ports", f)
		}
	case Redirect:
		if f.Port == 0 || f.PortEnd != 0 || f.SrcPort != 0 || f.RedirectPort == 0 {
			return fmt.Errorf("fault %s: needs one port and a redirect port", f)
		}
	default:
		return fmt.Errorf("fault %s: unknown kind", f)
	}
	return nil
}
