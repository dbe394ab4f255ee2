package coordinator

import (
	"log/slog"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/prometheus/client_golang/prometheus"
)

// ingestLogEvery is how often at most the coordinator logs each kind of
// trouble with what probes report (invalid results, clamped clocks): a probe
// with a broken clock sends such results with every report.
const ingestLogEvery = time.Minute

// ingestStats counts what Report dropped or corrected in probes' batches, and
// logs it in one line per kind at most once per ingestLogEvery.
type ingestStats struct {
	invalid *prometheus.CounterVec // results dropped, by reason
	clamped *prometheus.CounterVec // result times clamped, by direction

	mu      sync.Mutex
	invLog  rateLog
	skewLog rateLog
}

// rateLog holds what a rate-limited log line has left to say.
type rateLog struct {
	last    time.Time
	pending int // events since the last line
}

// due adds n events and reports whether a line is due now; the caller logs
// the pending count (returned) when it is.
func (l *rateLog) due(now time.Time, n int) (int, bool) {
	l.pending += n
	if !l.last.IsZero() && now.Sub(l.last) < ingestLogEvery {
		return 0, false
	}
	p := l.pending
	l.last, l.pending = now, 0
	return p, true
}

func newIngestStats(reg prometheus.Registerer) *ingestStats {
	s := &ingestStats{
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_results_rejected_total",
			Help: "Results dropped because they failed validation, by reason (the field at fault); the rest of their batch is counted and the probe's cursor moves past them.",
		}, []string{"reason"}),
		clamped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_results_clock_clamped_total",
			Help: "Results whose probe time was beyond max_clock_skew and was clamped to it, by direction: future (after the coordinator's clock plus the skew), past (before the probe's latest result minus the skew).",
		}, []string{"direction"}),
	}
	for _, r := range pathstate.ResultReasons {
		s.invalid.WithLabelValues(r)
	}
	for _, d := range []string{"future", "past"} {
		s.clamped.WithLabelValues(d)
	}
	reg.MustRegister(s.invalid, s.clamped)
	return s
}

// record counts a batch's dropped and clamped results and logs them, rate-limited.
func (s *ingestStats) record(logger *slog.Logger, probe string, st pathstate.IngestStats) {
	invalid := 0
	for reason, n := range st.Invalid {
		s.invalid.WithLabelValues(reason).Add(float64(n))
		invalid += n
	}
	clamped := st.ClampedFuture + st.ClampedPast
	if st.ClampedFuture > 0 {
		s.clamped.WithLabelValues("future").Add(float64(st.ClampedFuture))
	}
	if st.ClampedPast > 0 {
		s.clamped.WithLabelValues("past").Add(float64(st.ClampedPast))
	}
	if invalid == 0 && clamped == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	invN, invDue := s.invLog.due(now, invalid)
	skewN, skewDue := s.skewLog.due(now, clamped)
	s.mu.Unlock()
	if invalid > 0 && invDue {
		logger.Warn("invalid results dropped; the rest of the batch is counted (logged at most once a minute)",
			"probe", probe, "results", invN, "example", st.InvalidError.Error())
	}
	if clamped > 0 && skewDue {
		logger.Warn("result times beyond max_clock_skew clamped: check the probe's clock (logged at most once a minute)",
			"probe", probe, "results", skewN, "future", st.ClampedFuture, "past", st.ClampedPast, "by", st.ClampedBy.String())
	}
}
