// Package notify broadcasts "something changed" to any number of waiters:
// a waiter takes a channel from Signal.C, and Notify closes it. It is the one
// copy of the close-and-replace channel that the store, the planner, the
// result buffer, the stand-in manager, gossip and check rounds wait on.
//
// To wait without missing a change, take C before looking at the state (or
// while holding the lock the notifier holds when it changes the state and
// calls Notify), then wait on it.
package notify

import "sync"

// Signal is a change notification. The zero value is ready to use; it is safe
// for concurrent use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{} // nil until someone waits
}

// C returns a channel that is closed at the next Notify.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter holding a channel from C.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
