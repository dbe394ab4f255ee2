package admit

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	"google.golang.org/grpc/credentials"
)

// Listener wraps the gRPC listener: it tracks every connection for the caps.
func (g *Gate) Listener(l net.Listener) net.Listener { return &listener{Listener: l, g: g} }

type listener struct {
	net.Listener
	g *Gate
}

// Accept admits the next connection. At the total cap it sheds the oldest
// connection still in its TLS handshake; with none to shed, it closes the new one.
func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.g.admit(c); tc != nil {
			return tc, nil
		}
	}
}

func (g *Gate) admit(c net.Conn) *conn {
	g.mu.Lock()
	var shed *conn
	if g.total >= g.limits.MaxConnections {
		if !g.secure || g.pending.head == nil {
			g.mu.Unlock()
			c.Close()
			g.Refuse(ReasonConnections, "connection refused: the coordinator holds limits.max_connections already", "remote", c.RemoteAddr().String(), "max_connections", g.limits.MaxConnections)
			return nil
		}
		shed = g.pending.head
		g.pending.remove(shed)
		shed.state = stateShed
	}
	tc := &conn{Conn: c, g: g}
	g.total++
	g.pending.push(tc)
	g.mu.Unlock()
	if shed != nil {
		shed.Conn.Close() // its handshake fails; Close on it later releases the slot
		g.Refuse(ReasonShed, "connection still in its TLS handshake shed to admit a new one (connection cap reached)", "remote", shed.RemoteAddr().String())
	}
	return tc
}

// conn states.
const (
	statePending = iota // accepted, TLS handshake not finished
	stateProbe          // authenticated as a probe
	stateShed           // shed while pending; still counted until closed
	stateClosed
)

// conn is an accepted connection as the Gate tracks it.
type conn struct {
	net.Conn
	g          *Gate
	state      int
	identity   string
	prev, next *conn // in g.pending while pending
	closeOnce  sync.Once
}

// Close releases the connection's slots.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		g := c.g
		g.mu.Lock()
		defer g.mu.Unlock()
		if c.state == statePending {
			g.pending.remove(c)
		}
		if c.state == stateProbe {
			if g.conns[c.identity]--; g.conns[c.identity] <= 0 {
				delete(g.conns, c.identity)
			}
		}
		c.state = stateClosed
		g.total--
	})
	return err
}

// HandshakeHook is the tlsconf hook of the server's credentials: it logs failed
// handshakes, refuses certificates that name no probe and no operator, and
// identities over their connection cap, and marks the rest as past their
// handshake.
func (g *Gate) HandshakeHook() tlsconf.HandshakeHook {
	return func(raw net.Conn, info *credentials.TLSInfo, herr error) error {
		remote := raw.RemoteAddr().String()
		if herr != nil {
			g.Refuse(ReasonTLS, "TLS handshake failed; connection refused", "remote", remote, "error", herr.Error())
			return nil
		}
		chains := info.State.VerifiedChains
		if len(chains) == 0 || len(chains[0]) == 0 {
			g.Refuse(ReasonTLS, "client presented no verified certificate; connection refused", "remote", remote)
			return errors.New("no verified client certificate")
		}
		id, err := tlsconf.CertIdentity(chains[0][0])
		if err != nil {
			g.Refuse(ReasonNotProbe, "client certificate names no probe and no operator; connection refused", "remote", remote, "subject", chains[0][0].Subject.CommonName, "error", err.Error())
			return fmt.Errorf("certificate names no probe and no operator: %w", err)
		}
		name := connKey(id)
		c, _ := raw.(*conn)
		if c == nil {
			return nil // not from our listener (tests)
		}
		g.mu.Lock()
		if c.state != statePending {
			g.mu.Unlock()
			return errors.New("connection shed")
		}
		if g.conns[name] >= g.limits.MaxConnectionsPerProbe {
			g.mu.Unlock()
			g.Refuse(ReasonProbeConns, "connection refused: this probe certificate already holds limits.max_connections_per_probe connections", "probe", name, "remote", remote, "max", g.limits.MaxConnectionsPerProbe)
			return fmt.Errorf("probe %q has too many connections", name)
		}
		g.pending.remove(c)
		c.state, c.identity = stateProbe, name
		g.conns[name]++
		g.mu.Unlock()
		return nil
	}
}

// connList is a doubly linked list of pending connections, oldest first.
type connList struct{ head, tail *conn }

func (l *connList) push(c *conn) {
	c.prev, c.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = c
	} else {
		l.head = c
	}
	l.tail = c
}

func (l *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else if l.head == c {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else if l.tail == c {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// connKey is the key of an identity's connection count: a probe's name, or
// "operator/<name>" (probe names hold no '/', so the two never meet).
func connKey(id tlsconf.Identity) string {
	if id.Role == tlsconf.RoleProbe {
		return id.Name
	}
	return id.String()
}
