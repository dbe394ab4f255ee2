//go:build linux

package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Lab is one network of hosts in namespaces around a router. End-to-end tests
// get one from New; it is torn down by the test's cleanup (or Close).
type Lab struct {
	tb     testing.TB
	id     string // short random tag in interface names and rule comments
	router *Host

	mu         sync.Mutex
	hosts      []*Host // in creation order, router first
	active     []*Injection
	nextSubnet int
	nextQueue  uint16
	nextRule   int
	busyMTU    map[string]bool // router links with an MTUBlackhole
	busyRate   map[string]bool // router links with a Rate qdisc
	closed     bool
}

// requiredTools are the commands the lab runs; all ship with iproute2,
// iptables and util-linux.
var requiredTools = []string{"ip", "tc", "iptables", "nsenter", "sleep"}

// New builds the standard lab — sql, the router wan and mi — for a test, and
// registers its teardown with tb.Cleanup. It skips the test when not root or
// when a tool is missing (fails it instead when CI=true).
func New(tb testing.TB) *Lab {
	tb.Helper()
	return NewWithHosts(tb, "sql", "mi")
}

// NewWithHosts builds a lab with the router and the named hosts, the first on
// 198.18.1.0/24, the next on 198.18.2.0/24, and so on. Tests that need more
// than sql and mi call it; see New for skipping and cleanup.
func NewWithHosts(tb testing.TB, names ...string) *Lab {
	tb.Helper()
	if why := missingRequirements(); why != "" {
		msg := "netlab: " + why + " (install: apt-get install -y iproute2 iptables util-linux; run as root)"
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s; CI=true, so lab tests must not skip", msg)
		}
		tb.Skip(msg)
	}
	MarkRan(tb)
	start := time.Now()
	l := &Lab{tb: tb, id: randomID(), nextSubnet: 1, busyMTU: map[string]bool{}, busyRate: map[string]bool{}}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("netlab: teardown: %v", err)
		}
	})
	router, err := l.spawn("wan")
	if err != nil {
		tb.Fatalf("netlab: %v", err)
	}
	l.router = router
	if err := l.setupRouter(); err != nil {
		tb.Fatalf("netlab: router: %v", err)
	}
	for _, n := range names {
		if _, err := l.AddHost(n); err != nil {
			tb.Fatalf("netlab: %v", err)
		}
	}
	tb.Logf("netlab %s: %d hosts up in %v", l.id, len(names)+1, time.Since(start).Round(time.Millisecond))
	return l
}

// missingRequirements says what the lab lacks on this machine, or "".
func missingRequirements() string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, t := range requiredTools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, "the "+t+" command")
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "needs " + strings.Join(missing, ", ")
}

func randomID() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// setupRouter turns on forwarding and unlimited ICMP errors in the router's
// namespace only (without the latter, every ~6th reject waits ~1 s).
func (l *Lab) setupRouter() error {
	// /proc/sys/net belongs to the namespace of the thread that opens it.
	err := l.router.Do(func() error {
		for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/icmp_ratelimit", "0"}} {
			if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0o644); err != nil {
				return fmt.Errorf("sysctl %s: %w", kv[0], err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return l.router.run("", "ip", "link", "set", "lo", "up")
}

var hostName = regexp.MustCompile(`^[a-z][a-z0-9]{0,9}$`)

// AddHost adds a host on the next free subnet 198.18.N.0/24 (N counts up
// from 1), joined to the router by its own veth pair. Tests that need a third
// host (e.g. "mi2") call it after New.
func (l *Lab) AddHost(name string) (*Host, error) {
	if !hostName.MatchString(name) || name == "wan" {
		return nil, fmt.Errorf("add host %q: name must be 1-10 of [a-z0-9], not wan", name)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("add host: lab is closed")
	}
	for _, h := range l.hosts {
		if h.name == name {
			return nil, fmt.Errorf("add host %q: exists", name)
		}
	}
	if l.nextSubnet > 255 {
		return nil, errors.New("add host: out of subnets")
	}
	n := l.nextSubnet
	l.nextSubnet++
	h, err := l.spawnLocked(name)
	if err != nil {
		return nil, err
	}
	h.routerIf = name + "-" + l.id
	h.hostIf = "wan-" + l.id
	h.addr = netip.AddrFrom4([4]byte{198, 18, byte(n), 2})
	h.gw = netip.AddrFrom4([4]byte{198, 18, byte(n), 1})
	// The pair is made inside the router with its peer created straight in
	// the host's namespace: nothing ever appears in the root namespace.
	//
	// The two ends get different ifindexes on purpose. Ifindexes count per
	// namespace, so both ends could be 2; the kernel then treats the veth's
	// carrier-on as a non-urgent link event, handled at most once a second
	// for the whole machine, and until then the link has no qdisc and drops
	// every packet (measured: up to ~1 s with labs made in parallel, vs
	// ≤ 4 ms with distinct ifindexes). waitRunning then guards the rest.
	err = l.router.run(fmt.Sprintf(
		"link add %s index %d type veth peer name %s index %d netns %d\naddr add %s/24 dev %s\nlink set %s up\n",
		h.routerIf, 100+n, h.hostIf, 1000+n, h.pid, h.gw, h.routerIf, h.routerIf), "ip", "-batch", "-")
	if err == nil {
		err = h.run(fmt.Sprintf("link set lo up\naddr add %s/24 dev %s\nlink set %s up\nroute add default via %s\n",
			h.addr, h.hostIf, h.hostIf, h.gw), "ip", "-batch", "-")
	}
	if err == nil {
		err = errors.Join(waitRunning(h, h.hostIf), waitRunning(l.router, h.routerIf))
	}
	if err != nil {
		l.hosts = slices.DeleteFunc(l.hosts, func(o *Host) bool { return o == h })
		return nil, errors.Join(fmt.Errorf("add host %q: %w", name, err), h.kill())
	}
	return h, nil
}

// waitRunning polls until the link dev in h is operational (IFF_RUNNING),
// which the kernel sets when it has handled the carrier event and given the
// link its qdisc.
func waitRunning(h *Host, dev string) error {
	deadline := time.Now().Add(3 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		var running bool
		err := h.Do(func() error {
			ifi, err := net.InterfaceByName(dev)
			if err == nil {
				running = ifi.Flags&net.FlagRunning != 0
			}
			return err
		})
		if err != nil || running {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s in %s not running after 3 s", dev, h.name)
		}
		<-tick.C
	}
}

// Host returns the named host ("wan" is the router); it fails the test when
// there is none. Tests call it to reach hosts added by New or AddHost.
func (l *Lab) Host(name string) *Host {
	if h := l.lookup(name); h != nil {
		return h
	}
	l.tb.Fatalf("netlab: no host %q", name)
	return nil
}

func (l *Lab) lookup(name string) *Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.name == name {
			return h
		}
	}
	return nil
}

// SQL returns the host "sql" (198.18.1.2) of a lab made by New.
func (l *Lab) SQL() *Host { return l.Host("sql") }

// MI returns the host "mi" (198.18.2.2) of a lab made by New.
func (l *Lab) MI() *Host { return l.Host("mi") }

// Router returns the router "wan" that forwards between all hosts.
func (l *Lab) Router() *Host { return l.router }

// Close removes all faults still injected and kills and reaps the host
// processes, which takes their namespaces and links with them. The test's
// cleanup calls it; calling it again does nothing.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	active, hosts := l.active, l.hosts
	l.active = nil
	l.mu.Unlock()
	var errs []error
	for i := len(active) - 1; i >= 0; i-- {
		errs = append(errs, active[i].Remove())
	}
	for _, h := range hosts {
		errs = append(errs, h.kill())
	}
	return errors.Join(errs...)
}

// MarkRan appends the test's name to the file named by $LINKMESH_LAB_RAN when
// the test ends without skipping: .ci/run compares that list with every
// TestLab and TestWine test, so a test that silently skipped fails CI. New
// calls it; a test that needs CI's tools but no lab (Wine) calls it itself.
func MarkRan(tb testing.TB) {
	path := os.Getenv("LINKMESH_LAB_RAN")
	if path == "" {
		return
	}
	tb.Cleanup(func() {
		if tb.Skipped() {
			return
		}
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			tb.Errorf("netlab: record that the test ran: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, tb.Name())
	})
}
