package notify

import (
	"sync"
	"testing"
	"testing/synctest"
)

// TestSignal: every waiter that took C before Notify wakes; one that takes C
// after it waits for the next.
func TestSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s Signal
		var woke sync.WaitGroup
		for range 3 {
			c := s.C()
			woke.Add(1)
			go func() {
				<-c
				woke.Done()
			}()
		}
		s.Notify()
		woke.Wait()

		late := s.C()
		synctest.Wait()
		select {
		case <-late:
			t.Fatal("a channel taken after Notify is closed already")
		default:
		}
		s.Notify()
		<-late
		s.Notify() // nobody waits: nothing to close, no panic
	})
}
