package pathstate

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// echoRes is an echo result at t0 + seq seconds.
func echoRes(seq uint64, code linkmeshv1.Code) *linkmeshv1.Result {
	r := res(seq)
	r.Kind, r.Code, r.RttSource = linkmeshv1.Kind_KIND_ECHO, code, linkmeshv1.RTTSource_RTT_SOURCE_APPLICATION
	if code != linkmeshv1.Code_CODE_OK {
		r.Rtt = nil
	}
	return r
}

func registered(t *testing.T) *Store {
	t.Helper()
	s := New(newClock().Now)
	s.Register(probeInfo("sql01", "sql", 1))
	return s
}

func TestIngestKeepsLatestFigures(t *testing.T) {
	s := registered(t)
	withMTU := func(seq uint64, mtu uint32, hole bool) *linkmeshv1.Result {
		r := echoRes(seq, linkmeshv1.Code_CODE_OK)
		r.MtuBytes, r.MtuBlackhole = mtu, hole
		return r
	}
	r3 := echoRes(3, linkmeshv1.Code_CODE_OK)
	r3.ThroughputBitsPerSecond = 19.5e6
	// seq 5 ran a check that found a black hole; seq 4 (older, arriving in
	// the same batch) and seq 6 (no check) must not overwrite it.
	batch := []*linkmeshv1.Result{withMTU(2, 1500, false), r3, withMTU(5, 1400, true), withMTU(4, 1500, false), echoRes(6, linkmeshv1.Code_CODE_OK)}
	batch[3].Time = timestamppb.New(t0.Add(4 * time.Second))
	batch[2].Time = timestamppb.New(t0.Add(5 * time.Second))
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, s)
	if p.MTU != 1400 || !p.MTUBlackhole || !p.MTUTime.Equal(t0.Add(5*time.Second)) {
		t.Errorf("mtu %d black hole %v at %v; want 1400, true, from seq 5", p.MTU, p.MTUBlackhole, p.MTUTime)
	}
	if p.Throughput != 19.5e6 {
		t.Errorf("throughput %v, want 19.5e6", p.Throughput)
	}
}

func TestEchoWindowLossAndJitter(t *testing.T) {
	s := registered(t)
	var batch []*linkmeshv1.Result
	for i, loss := range []float64{0, 0.1, 0.2} {
		r := echoRes(uint64(i+1), linkmeshv1.Code_CODE_OK)
		r.LossRatio = loss
		r.Jitter = durationpb.New(time.Duration(i+1) * time.Millisecond)
		batch = append(batch, r)
	}
	batch = append(batch, echoRes(4, linkmeshv1.Code_CODE_TIMEOUT), echoRes(5, linkmeshv1.Code_CODE_MISMATCH))
	if _, err := s.Ingest("sql01", 1, 0, batch); err != nil {
		t.Fatal(err)
	}
	st := s.Window(t0)[onlyPath(t, s).Key]
	// (0 + 0.1 + 0.2 + 1 for the timeout) / 4 attempts; a mismatch says nothing about loss.
	if want := 1.3 / 4; math.Abs(st.LossRatio-want) > 1e-9 {
		t.Errorf("loss %v, want %v", st.LossRatio, want)
	}
	if st.Jitter != 2*time.Millisecond {
		t.Errorf("jitter %v, want the mean of the attempts' jitter, 2ms", st.Jitter)
	}
}

func TestStandInsReplan(t *testing.T) {
	s := registered(t)
	serving := []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING}}
	ch := s.Changed()
	s.SetStandIns("sql01", serving)
	if !isClosed(ch) || !s.Serving("sql01", 5022) || s.Serving("sql01", 5023) {
		t.Fatalf("after serving 5022: changed %v, serving 5022 %v", isClosed(ch), s.Serving("sql01", 5022))
	}
	ch = s.Changed()
	s.SetStandIns("sql01", []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING, Detail: "new words"}})
	if isClosed(ch) {
		t.Error("a detail change alone recomputed the plans")
	}
	s.SetStandIns("sql01", []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_ENDED}})
	if !isClosed(ch) || s.Serving("sql01", 5022) {
		t.Error("an ended stand-in still counts as serving, or did not recompute the plans")
	}
	s.SetStandIns("nobody", serving) // unknown probes are ignored
	if s.Serving("nobody", 5022) {
		t.Error("an unknown probe serves")
	}
}

// TestCheckpointKeepsFigures: the latest MTU check and burst survive a
// restore, so linkmesh_path_mtu_blackhole does not vanish (and its alert
// resolve) when a coordinator restarts.
func TestCheckpointKeepsFigures(t *testing.T) {
	s := registered(t)
	r := echoRes(1, linkmeshv1.Code_CODE_OK)
	r.MtuBytes, r.MtuBlackhole, r.ThroughputBitsPerSecond = 1400, true, 19e6
	if _, err := s.Ingest("sql01", 1, 0, []*linkmeshv1.Result{r}); err != nil {
		t.Fatal(err)
	}
	cp, _ := s.Checkpoint(true)
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	var back Checkpoint
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	restored := New(newClock().Now)
	if _, err := restored.Restore(&back); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, restored)
	if p.MTU != 1400 || !p.MTUBlackhole || p.MTUTime.IsZero() || p.Throughput != 19e6 || p.ThroughputTime.IsZero() {
		t.Errorf("after restore: mtu %d black hole %v at %v, throughput %v at %v", p.MTU, p.MTUBlackhole, p.MTUTime, p.Throughput, p.ThroughputTime)
	}
}
