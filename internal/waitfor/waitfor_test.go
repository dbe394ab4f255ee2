package waitfor

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ready := start.Add(120 * time.Millisecond)
		if !Poll(time.Second, func() bool { return !time.Now().Before(ready) }) {
			t.Fatal("Poll gave up before the condition held")
		}
		if d := time.Since(start); d < 120*time.Millisecond || d > 170*time.Millisecond {
			t.Errorf("held after %v; want within one 50 ms pause of 120 ms", d)
		}
		start = time.Now()
		if Poll(200*time.Millisecond, func() bool { return false }) {
			t.Fatal("Poll reports a condition that never held")
		}
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Errorf("gave up after %v, want exactly the 200 ms deadline", d)
		}
	})
}
