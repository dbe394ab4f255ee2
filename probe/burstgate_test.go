package probe

import "testing"

// TestBurstGate: one burst at a time; a burst due while another runs is owed
// and runs at the target's next attempt that finds the gate free; a target
// with nothing due or owed never bursts.
func TestBurstGate(t *testing.T) {
	g := newBurstGate()
	steps := []struct {
		name    string
		do      func() bool
		want    bool
		release bool
	}{
		{"a due, gate free", func() bool { return g.claim("a", true) }, true, false},
		{"b due while a bursts: owed", func() bool { return g.claim("b", true) }, false, false},
		{"c not due (then a's burst ends)", func() bool { return g.claim("c", false) }, false, true},
		{"b's next attempt, not due but owed, gate free", func() bool { return g.claim("b", false) }, true, true},
		{"b again: no longer owed", func() bool { return g.claim("b", false) }, false, false},
		{"a due again", func() bool { return g.claim("a", true) }, true, true},
		{"a check round's burst, gate free: held", g.hold, true, false},
		{"a due while the round's burst runs: owed", func() bool { return g.claim("a", true) }, false, false},
		{"another round's burst beside it: runs, not held (then the first ends)", g.hold, false, true},
		{"a's next attempt, owed, gate free again", func() bool { return g.claim("a", false) }, true, false},
		{"a round's burst while a bursts: runs, not held", g.hold, false, true},
	}
	for _, st := range steps {
		if got := st.do(); got != st.want {
			t.Errorf("%s: claim %v, want %v", st.name, got, st.want)
		}
		if st.release {
			g.release()
		}
	}
	if len(g.owed) != 0 {
		t.Errorf("owed left: %v", g.owed)
	}
}
