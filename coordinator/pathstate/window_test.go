package pathstate

import (
	"math"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// attemptAt is one attempt for the window tests: code, RTT (0: none), SYNs
// resent, and its start as an offset from t0.
type attemptAt struct {
	code linkmeshv1.Code
	rtt  time.Duration
	syn  uint32
	at   time.Duration
}

func windowStats(t *testing.T, since time.Time, attempts ...attemptAt) (Stats, bool) {
	t.Helper()
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	var batch []*linkmeshv1.Result
	for i, a := range attempts {
		r := res(uint64(i + 1))
		r.Time = timestamppb.New(t0.Add(a.at))
		r.Code = a.code
		r.SynRetransmits = a.syn
		r.Rtt = nil
		if a.rtt > 0 {
			r.Rtt = durationpb.New(a.rtt)
		}
		batch = append(batch, r)
	}
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	w := s.Window(since)
	if len(w) > 1 {
		t.Fatalf("Window: got %d paths, want at most 1", len(w))
	}
	for _, st := range w {
		return st, true
	}
	return Stats{}, false
}

// TestWindowLossRatio: the loss ratio is SYNs lost per SYN sent, where an attempt
// sends one SYN plus its resends and a timed-out attempt lost all of its SYNs
// (window.go's own comment and the metric's help text).
func TestWindowLossRatio(t *testing.T) {
	const (
		ok      = linkmeshv1.Code_CODE_OK
		timeout = linkmeshv1.Code_CODE_TIMEOUT
		refused = linkmeshv1.Code_CODE_REFUSED
	)
	tests := []struct {
		name     string
		attempts []attemptAt
		want     float64
	}{
		{"all ok, nothing resent", []attemptAt{{ok, time.Millisecond, 0, 0}, {ok, time.Millisecond, 0, time.Second}}, 0},
		{"ok after one resend: 1 of 2 SYNs lost", []attemptAt{{ok, time.Millisecond, 1, 0}}, 0.5},
		{"refused: reached, nothing lost", []attemptAt{{refused, 0, 0, 0}}, 0},
		{"one timeout, no resends seen: 1 of 1 lost", []attemptAt{{timeout, 0, 0, 0}}, 1},
		{"one timeout after 2 resends: 3 of 3 lost", []attemptAt{{timeout, 0, 2, 0}}, 1},
		{"ok plus timeout: 1 of 2 lost", []attemptAt{{ok, time.Millisecond, 0, 0}, {timeout, 0, 0, time.Second}}, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, found := windowStats(t, t0.Add(-time.Minute), tt.attempts...)
			if !found {
				t.Fatal("Window: path missing")
			}
			if math.Abs(st.LossRatio-tt.want) > 1e-9 {
				t.Errorf("LossRatio: got %v, want %v (attempts %d, SYNs resent %d)", st.LossRatio, tt.want, st.Attempts, st.SYNRetransmits)
			}
		})
	}
}

func TestWindowSinceAndJitter(t *testing.T) {
	const ok = linkmeshv1.Code_CODE_OK
	attempts := []attemptAt{
		{ok, 50 * time.Millisecond, 0, -2 * time.Minute}, // before the window
		{ok, 1 * time.Millisecond, 0, 0},
		{ok, 3 * time.Millisecond, 0, time.Second},
		{linkmeshv1.Code_CODE_REFUSED, 0, 0, 2 * time.Second},
		{ok, 2 * time.Millisecond, 0, 3 * time.Second},
	}
	st, found := windowStats(t, t0.Add(-time.Minute), attempts...)
	if !found {
		t.Fatal("Window: path missing")
	}
	if st.Attempts != 4 || st.OK != 3 {
		t.Errorf("attempts/ok: got %d/%d, want 4/3 (the one before since left out)", st.Attempts, st.OK)
	}
	// |3-1| and |2-3| over two pairs: 1.5 ms.
	if st.Jitter != 1500*time.Microsecond {
		t.Errorf("Jitter: got %v, want 1.5ms", st.Jitter)
	}
	if st.RTTMin != time.Millisecond || st.RTTMax != 3*time.Millisecond || st.RTTP50 != 2*time.Millisecond {
		t.Errorf("min/p50/max: got %v/%v/%v, want 1ms/2ms/3ms", st.RTTMin, st.RTTP50, st.RTTMax)
	}
	if _, found := windowStats(t, t0.Add(time.Hour), attempts...); found {
		t.Errorf("Window after every attempt: got the path, want it left out")
	}
}
