package pathstate

import (
	"slices"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// windowSize is how many recent attempts each path keeps for window statistics.
const windowSize = 256

// sample is one attempt as the window remembers it.
type sample struct {
	t    time.Time
	code linkmeshv1.Code
	rtt  time.Duration // 0 when not measured
	syn  uint32
}

// window is a ring of a path's most recent attempts, newest last.
type window struct {
	s    [windowSize]sample
	next int
	n    int
}

func (w *window) add(s sample) {
	w.s[w.next] = s
	w.next = (w.next + 1) % windowSize
	if w.n < windowSize {
		w.n++
	}
}

// each calls f for every sample in order of arrival.
func (w *window) each(f func(sample)) {
	start := (w.next - w.n + windowSize) % windowSize
	for i := range w.n {
		f(w.s[(start+i)%windowSize])
	}
}

// Stats summarise a path's recent attempts (the last 256 at most) in a time window.
type Stats struct {
	// Attempts and OK count the attempts in the window.
	Attempts int
	OK       int
	// SYNRetransmits sums the SYNs resent in the window's attempts.
	SYNRetransmits int
	// RTT quantiles and extremes over the window's successful attempts.
	RTTMin, RTTP50, RTTP90, RTTP99, RTTMax time.Duration
	// Jitter is the mean absolute difference between consecutive RTTs (RFC 3550
	// style, without smoothing).
	Jitter time.Duration
	// LossRatio estimates the packet loss on the path: for handshakes, resent
	// SYNs per SYN sent (each resend is a SYN or SYN-ACK lost), plus attempts that
	// got no answer at all.
	LossRatio float64
}

// Window returns the statistics of every path's attempts that started at or
// after since (probe clock), keyed by path. Paths without attempts since then are
// left out.
func (s *Store) Window(since time.Time) map[Key]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Key]Stats, len(s.paths))
	var rtts []time.Duration
	for k, p := range s.paths {
		if p.recent == nil {
			continue
		}
		st, ok := p.recent.stats(since, rtts[:0])
		if ok {
			out[k] = st
		}
	}
	return out
}

func (w *window) stats(since time.Time, rtts []time.Duration) (Stats, bool) {
	var st Stats
	var lost int
	var jitterSum time.Duration
	var prev time.Duration
	havePrev := false
	w.each(func(s sample) {
		if s.t.Before(since) {
			return
		}
		st.Attempts++
		st.SYNRetransmits += int(s.syn)
		switch s.code {
		case linkmeshv1.Code_CODE_OK:
			st.OK++
			if s.rtt > 0 {
				rtts = append(rtts, s.rtt)
				if havePrev {
					jitterSum += (s.rtt - prev).Abs()
				}
				prev, havePrev = s.rtt, true
			}
		case linkmeshv1.Code_CODE_TIMEOUT:
			lost++
		}
	})
	if st.Attempts == 0 {
		return st, false
	}
	// Each attempt sent one SYN plus its resends; a timed-out attempt lost them all.
	sent := st.Attempts + st.SYNRetransmits
	st.LossRatio = float64(st.SYNRetransmits+lost) / float64(sent)
	if len(rtts) > 0 {
		slices.Sort(rtts)
		st.RTTMin, st.RTTMax = rtts[0], rtts[len(rtts)-1]
		st.RTTP50 = quantile(rtts, 0.5)
		st.RTTP90 = quantile(rtts, 0.9)
		st.RTTP99 = quantile(rtts, 0.99)
	}
	if len(rtts) > 1 {
		st.Jitter = jitterSum / time.Duration(len(rtts)-1)
	}
	return st, true
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
