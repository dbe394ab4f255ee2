package pathstate

import (
	"math"
	"slices"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// windowSize is how many recent attempts each path keeps for window statistics.
const windowSize = 256

// sample is one attempt as the window remembers it: 56 bytes and no pointer
// (a time.Time holds one), so the garbage collector never scans a window.
type sample struct {
	sec    int64 // when the attempt started: Unix seconds (years 1 to 9999 fit)
	nsec   int32 // and nanoseconds
	code   linkmeshv1.Code
	rtt    time.Duration // 0 when not measured
	jitter time.Duration // echo: jitter of the attempt's round trips
	loss   float64       // echo: the attempt's own loss estimate (kept for older probes)
	syn    uint32

	exchanges, exchangesLost uint32 // packet exchanges and those that lost a packet
}

// newSample is a sample of an attempt started at t.
func newSample(t time.Time) sample { return sample{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

// time is when the attempt started.
func (s sample) time() time.Time { return time.Unix(s.sec, int64(s.nsec)).UTC() }

// before reports whether the attempt started before t.
func (s sample) before(t time.Time) bool {
	ts := t.Unix()
	return s.sec < ts || (s.sec == ts && int(s.nsec) < t.Nanosecond())
}

// window is a ring of a path's most recent attempts, newest last. It grows
// as attempts come (doubling, up to windowSize) and becomes a ring there, so a
// path measured every 30 s holds its few attempts, not 256 slots (18 KiB).
type window struct {
	s    []sample
	next int // where the next sample goes once the ring is full
	n    int
}

func (w *window) add(s sample) {
	if len(w.s) < windowSize {
		if len(w.s) == cap(w.s) { // double, but never past windowSize
			grown := make([]sample, len(w.s), min(max(2*cap(w.s), 4), windowSize))
			copy(grown, w.s)
			w.s = grown
		}
		w.s = append(w.s, s)
		w.n = len(w.s)
		return
	}
	w.s[w.next] = s
	w.next = (w.next + 1) % windowSize
}

// each calls f for every sample in order of arrival.
func (w *window) each(f func(sample)) {
	if len(w.s) < windowSize {
		for _, s := range w.s {
			f(s)
		}
		return
	}
	for i := range windowSize {
		f(w.s[(w.next+i)%windowSize])
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
	// LossRatio estimates the per-packet loss on the path (see lossRatio).
	LossRatio float64
	// Exchanges and ExchangesLost sum the window's packet exchanges and those
	// that lost a packet (Result.exchanges, Result.exchanges_lost).
	Exchanges, ExchangesLost int
}

// Window returns the statistics of every path's attempts that started at or
// after since, keyed by path. Attempts carry the probe's time clamped on ingest
// to at most the clock-skew bound (SetClockSkew) after the coordinator's clock (see
// clampLocked), so since, taken from the coordinator's clock, compares like
// with like. Paths without attempts since then are left out.
func (s *Store) Window(since time.Time) map[Key]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowLocked(since)
}

func (s *Store) windowLocked(since time.Time) map[Key]Stats {
	out := make(map[Key]Stats, len(s.paths))
	var rtts []time.Duration
	for k, p := range s.paths {
		if p.recent == nil {
			continue
		}
		st, ok := p.recent.stats(since, rtts[:0], k.Kind)
		if ok {
			out[k] = st
		}
	}
	return out
}

func (w *window) stats(since time.Time, rtts []time.Duration, kind linkmeshv1.Kind) (Stats, bool) {
	var st Stats
	var lost int
	var jitterSum time.Duration
	var prev time.Duration
	havePrev := false
	var echoLoss float64
	var echoAttempts, echoJitters int
	var echoJitter time.Duration
	w.each(func(s sample) {
		if s.before(since) {
			return
		}
		st.Attempts++
		st.SYNRetransmits += int(s.syn)
		st.Exchanges += int(s.exchanges)
		st.ExchangesLost += int(min(s.exchangesLost, s.exchanges))
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
		switch {
		case s.code == linkmeshv1.Code_CODE_OK:
			echoLoss += s.loss
			echoAttempts++
			if s.jitter > 0 {
				echoJitter += s.jitter
				echoJitters++
			}
		case s.code == linkmeshv1.Code_CODE_TIMEOUT:
			echoLoss++
			echoAttempts++
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
	if kind == linkmeshv1.Kind_KIND_ECHO {
		st.LossRatio, st.Jitter = 0, 0
		if echoAttempts > 0 {
			st.LossRatio = echoLoss / float64(echoAttempts)
		}
		if echoJitters > 0 {
			st.Jitter = echoJitter / time.Duration(echoJitters)
		}
	}
	if st.Exchanges > 0 {
		st.LossRatio = lossRatio(st.Exchanges, st.ExchangesLost)
	}
	return st, true
}

// lossRatio estimates per-packet loss from packet exchanges (a packet and its
// answer: a SYN and its SYN-ACK, an echo request and its reply) of which lost
// lost a packet. Each exchange is a trial that succeeds when both packets
// cross, with probability (1-p)² when each packet is lost with probability p
// independently and the same both ways, so p = 1 - √(succeeded/exchanges).
// Probes report the exchanges (Result.exchanges); results of older probes,
// which do not, leave the window's figure to the former estimate above.
func lossRatio(exchanges, lost int) float64 {
	if exchanges <= 0 {
		return 0
	}
	ok := exchanges - min(max(lost, 0), exchanges)
	return 1 - math.Sqrt(float64(ok)/float64(exchanges))
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
