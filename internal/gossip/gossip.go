// Package gossip makes a probe or coordinator a member of the mesh's gossip
// cluster (github.com/hashicorp/memberlist): members find each other from a few
// seed addresses, learn each other's role, site, labels and addresses, notice
// when one dies or leaves, and measure round trips to each other. Gossip is
// encrypted with the mesh key, so a host without it cannot join.
//
// memberlist's types stay inside this package: callers see Member and Meta.
package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/linkmesh/linkmesh/internal/notify"
)

// DefaultPort is the gossip port (TCP and UDP) when an address gives none.
const DefaultPort = 7946

// Config configures a Node.
type Config struct {
	// Meta describes this member; Meta.Name must be unique among members of its role.
	Meta Meta
	// Bind is the address gossip listens on, TCP and UDP (default ":7946").
	Bind string
	// Advertise is the host[:port] other members reach this one at (NAT, several
	// interfaces); default: the bind address, or the address of the default route.
	Advertise string
	// Join lists seed members (host[:port]); any one reachable is enough.
	Join []string
	// Key encrypts gossip (16, 24 or 32 bytes). Nil sends it in clear text:
	// only with the explicit --insecure flag.
	Key []byte
	// AcceptKeys are further keys gossip from others may be encrypted with
	// (during a key rotation).
	AcceptKeys [][]byte
	// Profile tunes timing: "wan" (default; paths cross VPNs), "lan" or "local".
	Profile string
	// RejoinInterval is how often the seeds and dead members are contacted again,
	// which heals a partition (default 30 s).
	RejoinInterval time.Duration
	// Retain is how long a dead member is remembered (and retried) (default 1 h).
	Retain time.Duration
	// Logger receives memberlist's log lines at their own levels.
	Logger *slog.Logger
}

// Node is this process's membership in the mesh. Create it with Start; Run it.
type Node struct {
	logger *slog.Logger
	cfg    Config
	ml     *memberlist.Memberlist
	logs   *logWriter
	self   string
	// stopped is set once gossip is shut down (memberlist panics on Leave after
	// Shutdown).
	stopped atomic.Bool

	mu        sync.Mutex
	metaBytes []byte
	members   map[string]*Member
	changed   notify.Signal
}

// NodeName is the memberlist name of a member: coordinators are prefixed so a
// probe and a coordinator may share a host name.
func NodeName(m Meta) string {
	if m.Role == RoleCoordinator {
		return "coordinator:" + m.Name
	}
	return m.Name
}

// Start creates the member and binds its gossip port. It does not join yet: Run
// joins the seeds and keeps the membership healthy.
func Start(cfg Config) (*Node, error) {
	if cfg.Bind == "" {
		cfg.Bind = ":" + strconv.Itoa(DefaultPort)
	}
	if cfg.RejoinInterval <= 0 {
		cfg.RejoinInterval = 30 * time.Second
	}
	if cfg.Retain <= 0 {
		cfg.Retain = time.Hour
	}
	n := &Node{logger: cfg.Logger, cfg: cfg, members: map[string]*Member{}}
	meta, err := cfg.Meta.encode()
	if err != nil {
		return nil, err
	}
	n.metaBytes = meta

	var mc *memberlist.Config
	switch cfg.Profile {
	case "", "wan":
		mc = memberlist.DefaultWANConfig()
	case "lan":
		mc = memberlist.DefaultLANConfig()
	case "local":
		mc = memberlist.DefaultLocalConfig()
	default:
		return nil, fmt.Errorf("gossip profile %q: use wan, lan or local", cfg.Profile)
	}
	n.self = NodeName(cfg.Meta)
	mc.Name = n.self
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip bind %q: %w", cfg.Bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.Advertise != "" {
		ah, ap, err := splitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise %q: %w", cfg.Advertise, err)
		}
		if ap == DefaultPort && port != DefaultPort && !hasPort(cfg.Advertise) {
			ap = port
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	if cfg.Key != nil {
		kr, err := memberlist.NewKeyring(cfg.AcceptKeys, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Delegate = delegate{n}
	mc.Events = eventDelegate{n}
	mc.Ping = pingDelegate{n}
	mc.Conflict = conflictDelegate{n}
	n.logs = newLogWriter(cfg.Logger, logInterval)
	mc.Logger = log.New(n.logs, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s: %w", cfg.Bind, err)
	}
	n.ml = ml
	return n, nil
}

func hasPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

// splitHostPort accepts "host", "host:port" and ":port".
func splitHostPort(addr string) (string, int, error) {
	if !hasPort(addr) {
		return addr, DefaultPort, nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not 0-65535", p)
	}
	return h, port, nil
}

// Addr is the address gossip listens on (useful with port 0 in tests).
func (n *Node) Addr() string {
	ln := n.ml.LocalNode()
	return net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
}

// Run joins the seeds (retrying until one answers), then keeps the view of the
// members current and rejoins seeds and dead members every RejoinInterval until
// ctx is done; then it leaves the cluster gracefully and shuts gossip down.
func (n *Node) Run(ctx context.Context) error {
	defer n.shutdown()
	poll := time.NewTicker(time.Minute)
	defer poll.Stop()
	rejoin := time.NewTimer(0)
	defer rejoin.Stop()
	var lastJoinErr string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			n.forget()
			n.logs.flush(time.Now())
		case <-rejoin.C:
			if err := n.rejoin(); err != nil {
				if err.Error() != lastJoinErr {
					n.logger.Warn("cannot reach any gossip seed; retrying", "error", err, "every", n.cfg.RejoinInterval)
				}
				lastJoinErr = err.Error()
				rejoin.Reset(min(n.cfg.RejoinInterval, 5*time.Second))
				continue
			}
			if lastJoinErr != "" {
				n.logger.Info("gossip seeds reachable again")
			}
			lastJoinErr = ""
			rejoin.Reset(n.cfg.RejoinInterval)
		}
	}
}

func (n *Node) shutdown() {
	if n.stopped.Swap(true) {
		return
	}
	defer n.logs.flush(time.Now().Add(logInterval)) // last: write what the limiter still holds back
	n.mu.Lock()
	meta := n.cfg.Meta.clone()
	n.mu.Unlock()
	meta.Leaving = true
	if err := n.updateMeta(meta, time.Second); err != nil {
		n.logger.Debug("gossip: announce leaving", "error", err)
	}
	if err := n.ml.Leave(2 * time.Second); err != nil {
		n.logger.Debug("gossip leave", "error", err)
	}
	if err := n.ml.Shutdown(); err != nil {
		n.logger.Debug("gossip shutdown", "error", err)
	}
}

// rejoin contacts the seeds that are not alive members and the dead members
// still remembered. It fails only when there were candidates and none answered.
func (n *Node) rejoin() error {
	candidates := n.rejoinCandidates()
	if len(candidates) == 0 {
		return nil
	}
	joined, err := n.ml.Join(candidates)
	if joined > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("no member answered")
	}
	return fmt.Errorf("join %v: %w (same mesh key on every member? gossip port %d open, TCP and UDP?)", candidates, err, DefaultPort)
}

func (n *Node) rejoinCandidates() []string {
	// memberlist's own Members() hands out nodes it keeps writing to, so the
	// view comes from our map (fed by its events) instead.
	n.mu.Lock()
	defer n.mu.Unlock()
	alive := map[string]bool{}
	for _, m := range n.members {
		if m.State == StateAlive {
			alive[m.Addr] = true
		}
	}
	var out []string
	for _, seed := range n.cfg.Join {
		addr := seed
		if !hasPort(addr) {
			addr = net.JoinHostPort(addr, strconv.Itoa(DefaultPort))
		}
		if tcp, err := net.ResolveTCPAddr("tcp", addr); err == nil && alive[tcp.String()] {
			continue
		}
		out = append(out, addr)
	}
	for _, m := range n.members {
		if m.State == StateDead && time.Since(m.Since) < n.cfg.Retain {
			out = append(out, m.Addr)
		}
	}
	return out
}

// forget drops members dead or gone for longer than Retain.
func (n *Node) forget() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, m := range n.members {
		if (m.State == StateDead || m.State == StateLeft) && time.Since(m.Since) > n.cfg.Retain {
			delete(n.members, name)
		}
	}
}

// NumAlive returns how many members (this one included) are alive.
func (n *Node) NumAlive() int {
	return n.ml.NumMembers()
}
