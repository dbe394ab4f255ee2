//go:build linux

package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// flapPath makes a path flap: it injects f for `on`, removes it for `off`, and
// again, until the returned stop is called or `limit` has passed. stop waits
// for the fault to be removed; call it before the test ends (it is safe to call
// twice).
func flapPath(t *testing.T, lab *netlab.Lab, f netlab.Fault, on, off, limit time.Duration) (stop func()) {
	t.Helper()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		end := time.NewTimer(limit)
		defer end.Stop()
		wait := func(d time.Duration) bool {
			tm := time.NewTimer(d)
			defer tm.Stop()
			select {
			case <-tm.C:
				return true
			case <-quit:
			case <-end.C:
			}
			return false
		}
		for {
			inj, err := lab.Inject(f)
			if err != nil {
				t.Errorf("flap: inject %v: %v", f, err)
				return
			}
			more := wait(on)
			if err := inj.Remove(); err != nil {
				t.Errorf("flap: remove %v: %v", f, err)
				return
			}
			if !more || !wait(off) {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}
