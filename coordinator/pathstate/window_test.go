package pathstate

import (
	"testing"
	"time"
	"unsafe"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestWindowRing: the window grows with its attempts, then keeps the last
// windowSize in order of arrival, without growing further.
func TestWindowRing(t *testing.T) {
	for _, n := range []int{0, 1, 10, windowSize - 1, windowSize, windowSize + 1, 3*windowSize + 7} {
		var w window
		for i := range n {
			smp := newSample(t0.Add(time.Duration(i) * time.Second))
			smp.code, smp.rtt = linkmeshv1.Code_CODE_OK, time.Duration(i)
			w.add(smp)
		}
		var got []time.Duration
		w.each(func(s sample) { got = append(got, s.rtt) })
		want := min(n, windowSize)
		if len(got) != want || cap(w.s) > windowSize {
			t.Fatalf("%d adds: %d samples (cap %d), want %d (cap at most %d)", n, len(got), cap(w.s), want, windowSize)
		}
		for i, r := range got {
			if wantRTT := time.Duration(n - want + i); r != wantRTT {
				t.Fatalf("%d adds: sample %d is attempt %d, want %d (the last %d in order)", n, i, r, wantRTT, want)
			}
		}
	}
}

// TestSampleSize: a window holds up to 256 samples per path; keep them small.
func TestSampleSize(t *testing.T) {
	if n := unsafe.Sizeof(sample{}); n > 56 {
		t.Errorf("sample is %d bytes, want at most 56 (a window of 256: 14 KiB)", n)
	}
}
