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

// TestWindowLossRatio: for results without exchanges (older probes) the loss
// ratio is still SYNs lost per SYN sent, where an attempt sends one SYN plus
// its resends and a timed-out attempt lost all of its SYNs.
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

// TestWindowLossFromExchanges: with exchanges reported, the loss ratio is the
// per-packet estimate 1 - √(succeeded/exchanges) over the window's sums,
// whatever the attempts' codes, and it ignores the attempts' own loss_ratio.
func TestWindowLossFromExchanges(t *testing.T) {
	type ex struct {
		code      linkmeshv1.Code
		n, lost   uint32
		lossRatio float64
	}
	const (
		ok      = linkmeshv1.Code_CODE_OK
		timeout = linkmeshv1.Code_CODE_TIMEOUT
	)
	tests := []struct {
		name string
		kind linkmeshv1.Kind
		in   []ex
		want float64
	}{
		{"tcp, no exchange lost", linkmeshv1.Kind_KIND_TCP, []ex{{ok, 1, 0, 0}, {ok, 1, 0, 0}}, 0},
		// 49 of 100 first SYN exchanges got through: (1-p)² = 0.49, p = 0.3.
		{"tcp, 51 of 100 lost", linkmeshv1.Kind_KIND_TCP, append(repeatEx(ex{ok, 1, 0, 0}, 49), repeatEx(ex{timeout, 1, 1, 0}, 51)...), 0.3},
		// A failed echo attempt contributes its exchanges, not 100 % loss.
		{"echo, 19 of 100 lost", linkmeshv1.Kind_KIND_ECHO, []ex{{ok, 50, 9, 0.9}, {timeout, 50, 10, 0}}, 0.1},
		{"everything lost", linkmeshv1.Kind_KIND_ECHO, []ex{{timeout, 1, 1, 0}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(newClock().Now)
			s.Register(probeInfo("sql01", "sql", 1))
			var batch []*linkmeshv1.Result
			for i, e := range tt.in {
				r := res(uint64(i + 1))
				r.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
				r.Kind, r.Code, r.Exchanges, r.ExchangesLost, r.LossRatio = tt.kind, e.code, e.n, e.lost, e.lossRatio
				batch = append(batch, r)
			}
			if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
				t.Fatal(err)
			}
			for _, st := range s.Window(t0.Add(-time.Minute)) {
				if math.Abs(st.LossRatio-tt.want) > 1e-9 {
					t.Errorf("LossRatio: got %v, want %v (exchanges %d, lost %d)", st.LossRatio, tt.want, st.Exchanges, st.ExchangesLost)
				}
				return
			}
			t.Fatal("Window: path missing")
		})
	}
}

func repeatEx[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
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
