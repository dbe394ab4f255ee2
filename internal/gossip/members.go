package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's liveness as gossip sees it.
type State string

// The states a member goes through.
const (
	// StateAlive: answering pings.
	StateAlive State = "alive"
	// StateDead: declared dead by the cluster (failed direct and indirect pings
	// for the suspicion timeout).
	StateDead State = "dead"
	// StateLeft: left gracefully (shut down on purpose).
	StateLeft State = "left"
)

// Member is one member of the mesh as this node sees it.
type Member struct {
	// NodeName is the gossip name (see NodeName).
	NodeName string
	Meta     Meta
	// Addr is the member's gossip address (host:port).
	Addr  string
	State State
	// Since is when the member entered State (as seen here).
	Since time.Time
	// Self marks this node.
	Self bool
	// RTT is the latest ping round trip from this node to the member (0 if none).
	// Pings that went through other members (indirect) are not counted, so a
	// one-way failure between two members can hide behind a healthy RTT: it is a
	// hint, never a verdict.
	RTT time.Duration
	// RTTAt is when RTT was measured.
	RTTAt time.Time

	metaBytes []byte // the encoded Meta last seen, to skip decoding it again
}

// observe records a member's state and metadata, waking watchers on change.
// It is called from memberlist's goroutines and from refresh.
func (n *Node) observe(node *memberlist.Node, st State) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m, ok := n.members[node.Name]
	var meta Meta
	if ok && bytes.Equal(m.metaBytes, node.Meta) && m.Addr == net.JoinHostPort(node.Addr.String(), strconv.Itoa(int(node.Port))) {
		meta = m.Meta // unchanged: skip decoding on memberlist's hot path
	} else {
		var err error
		if meta, err = decodeMeta(node.Name, node.Meta); err != nil {
			n.logger.Debug("gossip member without linkmesh metadata ignored", "member", node.Name, "error", err)
			return
		}
	}
	if meta.Responder != "" {
		if h, p, err := net.SplitHostPort(meta.Responder); err == nil && h == "" {
			meta.Responder = net.JoinHostPort(node.Addr.String(), p)
		}
	}
	if meta.Leaving {
		// A member that announced it is leaving is gone, whichever message
		// (its update or its leave) arrives first.
		st = StateLeft
	}
	addr := net.JoinHostPort(node.Addr.String(), strconv.Itoa(int(node.Port)))
	if ok && m.State == st && m.Addr == addr && sameMeta(m.Meta, meta) {
		return
	}
	if !ok {
		m = &Member{NodeName: node.Name, Self: node.Name == n.self}
		n.members[node.Name] = m
	}
	if !ok || m.State != st {
		m.Since = time.Now()
		level := slog.LevelInfo
		if !ok && st == StateAlive {
			level = slog.LevelDebug // a first sighting: with hundreds of members, one line each is noise
		}
		if !m.Self {
			n.logger.Log(context.Background(), level, "gossip member "+string(st), "member", node.Name, "role", meta.Role, "site", meta.Site, "addr", addr)
		}
	}
	m.State, m.Addr, m.Meta = st, addr, meta
	m.metaBytes = bytes.Clone(node.Meta)
	n.changed.Notify()
}

func sameMeta(a, b Meta) bool {
	return a.Role == b.Role && a.Name == b.Name && a.Site == b.Site &&
		a.Responder == b.Responder && a.GRPC == b.GRPC && a.Leaving == b.Leaving
}

func (n *Node) recordRTT(name string, rtt time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m, ok := n.members[name]; ok {
		m.RTT, m.RTTAt = rtt, time.Now()
	}
}

// Members returns every member this node knows of (alive, and dead or
// left ones it still remembers), sorted by name.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Member, 0, len(n.members))
	for _, m := range n.members {
		c := *m
		c.Meta = m.Meta.clone()
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.NodeName, b.NodeName) })
	return out
}

// Changed returns a channel closed at the next change of any member's state,
// address or metadata.
func (n *Node) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed.C()
}

// UpdateMeta changes this member's metadata and gossips it.
func (n *Node) UpdateMeta(m Meta) error {
	return n.updateMeta(m, 5*time.Second)
}

func (n *Node) updateMeta(m Meta, timeout time.Duration) error {
	b, err := m.encode()
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.metaBytes = b
	n.cfg.Meta = m.clone()
	n.mu.Unlock()
	return n.ml.UpdateNode(timeout)
}
