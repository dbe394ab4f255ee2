package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// The adapters below forward memberlist's callbacks into Node, so memberlist's
// types never reach linkmesh's API (as serf's event_delegate.go does).

// delegate answers memberlist's requests for our metadata. memberlist calls
// NodeMeta from its own goroutines, at join and whenever it gossips our state;
// it must not block. We send no user messages, so the rest are no-ops.
type delegate struct{ n *Node }

func (d delegate) NodeMeta(limit int) []byte {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	if len(d.n.metaBytes) > limit {
		return nil // cannot happen: Start and UpdateMeta check the size
	}
	return d.n.metaBytes
}

func (delegate) NotifyMsg([]byte)                           {}
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (delegate) LocalState(join bool) []byte                { return nil }
func (delegate) MergeRemoteState(buf []byte, join bool)     {}

// eventDelegate receives join, leave and update events. memberlist calls it
// synchronously from its state-handling goroutines, so it only records the event
// and wakes watchers; it never blocks.
type eventDelegate struct{ n *Node }

func (e eventDelegate) NotifyJoin(node *memberlist.Node)   { e.n.observe(node, StateAlive) }
func (e eventDelegate) NotifyUpdate(node *memberlist.Node) { e.n.observe(node, StateAlive) }

// NotifyLeave cannot trust node.State (memberlist does not keep it current), so a
// member that meant to go says so in its metadata first (Meta.Leaving).
func (e eventDelegate) NotifyLeave(node *memberlist.Node) { e.n.observe(node, StateDead) }

// pingDelegate records the round-trip time of every completed ping. memberlist
// calls it from its probe goroutine after each ack; it only stores the figure.
type pingDelegate struct{ n *Node }

func (pingDelegate) AckPayload() []byte { return nil }
func (p pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, _ []byte) {
	p.n.recordRTT(other.Name, rtt)
}

// conflictDelegate logs two members claiming one name. memberlist calls it from
// its state goroutine.
type conflictDelegate struct{ n *Node }

func (c conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	c.n.logger.Error("two members use one name: give each probe a unique --name",
		"name", existing.Name, "existing", existing.Address(), "other", other.Address())
}
