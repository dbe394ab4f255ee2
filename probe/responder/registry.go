package responder

import (
	"container/list"
	"net"
	"sync"
)

// session is one connection being handled. The registry's lock guards elem,
// evicted and authed; the handler reads only conn, which is set once.
type session struct {
	conn    net.Conn
	elem    *list.Element // in registry.waiting while the hello is not done
	evicted bool          // closed by admit to make room
	authed  bool
}

// registry tracks the connections being handled: the ones still in their
// hello (oldest first, to evict) and how many are past it.
type registry struct {
	mu      sync.Mutex
	waiting *list.List // of *session
	live    map[*session]struct{}
	evicted int // sessions closed by admit whose goroutine has not ended yet
	authed  int
}

func (g *registry) init() {
	g.waiting = list.New()
	g.live = map[*session]struct{}{}
}

// admit registers conn. When max connections are being handled it evicts the
// oldest connection still in its hello; when there is none (or twice max
// goroutines are still running) it returns nil and conn must be closed.
func (g *registry) admit(conn net.Conn, max int) (s *session, evicted bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.live)-g.evicted >= max {
		front := g.waiting.Front()
		if front == nil || len(g.live) >= 2*max {
			return nil, false
		}
		old := g.waiting.Remove(front).(*session)
		old.elem = nil
		old.evicted = true
		old.conn.Close() // its goroutine ends soon and calls done
		g.evicted++
		evicted = true
	}
	s = &session{conn: conn}
	s.elem = g.waiting.PushBack(s)
	g.live[s] = struct{}{}
	return s, evicted
}

// authenticate moves s out of the hello list; it reports false when max
// connections are already past their hello, or s was evicted meanwhile.
func (g *registry) authenticate(s *session, max int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.elem != nil {
		g.waiting.Remove(s.elem)
		s.elem = nil
	}
	if s.evicted || g.authed >= max {
		return false
	}
	g.authed++
	s.authed = true
	return true
}

// done forgets s when its goroutine ends.
func (g *registry) done(s *session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.elem != nil {
		g.waiting.Remove(s.elem)
		s.elem = nil
	}
	if s.evicted {
		g.evicted--
	}
	if s.authed {
		g.authed--
	}
	delete(g.live, s)
}

// closeAll closes every connection (shutdown).
func (g *registry) closeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.live {
		s.conn.Close()
	}
}

// counts returns how many connections are handled and how many are past
// their hello (for tests and stats).
func (g *registry) counts() (live, authed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live), g.authed
}
