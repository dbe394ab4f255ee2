package coordinator

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ingestResult is a valid tcp result of probe sql1 to mi1:5023 at time at.
func ingestResult(seq uint64, at time.Time, code linkmeshv1.Code) *linkmeshv1.Result {
	r := &linkmeshv1.Result{
		Seq: seq, Time: timestamppb.New(at), Kind: linkmeshv1.Kind_KIND_TCP, Target: "mi1", TargetSite: "mi",
		Host: "198.18.0.2", Port: 5023, Code: code,
	}
	if code == linkmeshv1.Code_CODE_OK {
		r.Rtt = durationpb.New(time.Millisecond)
	}
	return r
}

// registerSQL1 registers probe sql1 (epoch 1) with the coordinator.
func registerSQL1(t *testing.T, api linkmeshv1.MeshServiceClient) {
	t.Helper()
	if _, err := api.Register(context.Background(), &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
}

// onlyPath returns the single path in the coordinator's state.
func onlyPath(t *testing.T, s *Server) pathstate.Path {
	t.Helper()
	snap := s.Store().Snapshot(time.Minute)
	if len(snap.Paths) != 1 {
		t.Fatalf("%d paths, want 1", len(snap.Paths))
	}
	return snap.Paths[0]
}

// TestReportOneBadResultKeepsBatch: a batch of 500 results with one invalid
// result in the middle is counted but for that result, which is dropped and
// counted by reason; the cursor moves past it (the batch is acked, not
// replayed forever) and it is not counted as missing. It used to refuse the
// whole batch (InvalidArgument), 499 honest results with it.
func TestReportOneBadResultKeepsBatch(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	registerSQL1(t, api)
	now := time.Now()
	batch := make([]*linkmeshv1.Result, 500)
	for i := range batch {
		batch[i] = ingestResult(uint64(i+1), now, linkmeshv1.Code_CODE_OK)
	}
	batch[249].Code = 99
	batch[300].Target = strings.Repeat("x", 5000)
	req := &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: batch}
	resp, err := api.Report(ctx, req)
	if err != nil {
		t.Fatalf("Report: %v; want the batch counted without its bad results", err)
	}
	if resp.GetReceivedSeq() != 500 || resp.GetAckedSeq() != 500 {
		t.Errorf("cursor received %d acked %d, want 500: the bad results must not hold the batch back", resp.GetReceivedSeq(), resp.GetAckedSeq())
	}
	if n := testutil.ToFloat64(s.ingested); n != 498 {
		t.Errorf("ingested %v, want 498", n)
	}
	for reason, want := range map[string]float64{pathstate.ReasonCode: 1, pathstate.ReasonTarget: 1, pathstate.ReasonTime: 0} {
		if n := testutil.ToFloat64(s.ingestStats.invalid.WithLabelValues(reason)); n != want {
			t.Errorf("results_rejected_total{reason=%q} = %v, want %v", reason, n, want)
		}
	}
	if n := testutil.ToFloat64(s.rejected.WithLabelValues("invalid")); n != 0 {
		t.Errorf("requests rejected as invalid: %v, want 0", n)
	}
	snap := s.Store().Snapshot(time.Minute)
	p, _ := snap.Probe("sql1")
	if p.Gaps != 0 {
		t.Errorf("missing results %d, want 0: a dropped invalid result is not missing", p.Gaps)
	}
	// A replay counts nothing again, the bad results included.
	if _, err := api.Report(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n, d := testutil.ToFloat64(s.ingested), testutil.ToFloat64(s.duplicates); n != 498 || d != 500 {
		t.Errorf("after a replay: ingested %v, duplicates %v; want 498, 500", n, d)
	}
	if n := testutil.ToFloat64(s.ingestStats.invalid.WithLabelValues(pathstate.ReasonCode)); n != 1 {
		t.Errorf("after a replay: rejected for code %v, want still 1", n)
	}
}

// TestProbeClockJumpForward: a probe whose clock jumps ahead (one result
// stamped in 2100) no longer freezes the path: later results, by sequence,
// still decide path_up; the 2100 time is clamped to now + max_clock_skew and
// counted. Before, the path's latest outcome stayed the 2100 one.
func TestProbeClockJumpForward(t *testing.T) {
	s := runServer(t, reportConfig+"max_clock_skew: 1m\n", nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	registerSQL1(t, api)
	now := time.Now()
	rs := []*linkmeshv1.Result{
		ingestResult(1, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), linkmeshv1.Code_CODE_OK),
		ingestResult(2, now, linkmeshv1.Code_CODE_TIMEOUT),
	}
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: rs}); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, s)
	if p.Up() || p.Last != linkmeshv1.Code_CODE_TIMEOUT {
		t.Errorf("path up %v, last %v; want down after the later timeout", p.Up(), p.Last)
	}
	if hi := time.Now().Add(time.Minute); p.LastSuccess.After(hi) || p.LastSuccess.Before(now) {
		t.Errorf("last success %v; want the 2100 time clamped to within a minute of now", p.LastSuccess)
	}
	if n := testutil.ToFloat64(s.ingestStats.clamped.WithLabelValues("future")); n != 1 {
		t.Errorf("clamped future %v, want 1", n)
	}
	// The next success counts as the latest, though its time is before 2100.
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: []*linkmeshv1.Result{ingestResult(3, time.Now(), linkmeshv1.Code_CODE_OK)}}); err != nil {
		t.Fatal(err)
	}
	if p := onlyPath(t, s); !p.Up() {
		t.Errorf("path down after a later success; want up")
	}
}

// TestProbeClockJumpBack: a probe whose clock jumps back two hours keeps its
// path state current: results are ordered by sequence, so the later failures
// decide path_up, and their times are clamped to the probe's latest result
// minus max_clock_skew and counted. Before, results older than the path's
// latest time never became its latest outcome.
func TestProbeClockJumpBack(t *testing.T) {
	s := runServer(t, reportConfig+"max_clock_skew: 1m\n", nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	registerSQL1(t, api)
	now := time.Now()
	back := now.Add(-2 * time.Hour)
	rs := []*linkmeshv1.Result{
		ingestResult(1, now, linkmeshv1.Code_CODE_OK),
		ingestResult(2, back, linkmeshv1.Code_CODE_REFUSED),
		ingestResult(3, back.Add(time.Second), linkmeshv1.Code_CODE_REFUSED),
	}
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: rs}); err != nil {
		t.Fatal(err)
	}
	p := onlyPath(t, s)
	if p.Up() || p.Last != linkmeshv1.Code_CODE_REFUSED {
		t.Errorf("path up %v, last %v; want down: the refusals came after the success", p.Up(), p.Last)
	}
	if want := now.Add(-time.Minute); !p.LastTime.Equal(want) {
		t.Errorf("last time %v, want %v (the latest result minus the skew)", p.LastTime, want)
	}
	if n := testutil.ToFloat64(s.ingestStats.clamped.WithLabelValues("past")); n != 2 {
		t.Errorf("clamped past %v, want 2", n)
	}
	// The window sees the clamped attempts: they are not two hours old.
	if f := s.Store().Failures(time.Now().Add(-5 * time.Minute))[p.Key]; f.Attempts != 3 || f.Failed != 2 {
		t.Errorf("window failures %+v, want 3 attempts, 2 failed", f)
	}
}

// TestTimestampFarFutureNoOverflow: result times anywhere a protobuf Timestamp
// reaches (years 1 to 9999; 2262 is where UnixNano overflows) neither freeze
// the path nor overflow its last success (/api/v1/paths' last_success): they are
// clamped to within max_clock_skew of now.
func TestTimestampFarFutureNoOverflow(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	registerSQL1(t, api)
	years := []int{2100, 2262, 2263, 9999, 1}
	for i, y := range years {
		at := time.Date(y, 12, 31, 23, 59, 59, 0, time.UTC)
		r := ingestResult(uint64(i+1), at, linkmeshv1.Code_CODE_OK)
		if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: []*linkmeshv1.Result{r}}); err != nil {
			t.Fatalf("year %d: %v", y, err)
		}
		got := onlyPath(t, s).LastSuccess.Unix()
		now := time.Now().Unix()
		if got < now-2*600 || got > now+600+1 {
			t.Errorf("year %d: last success %v s, want within the 10m skew of now (%v)", y, got, now)
		}
	}
	if n := testutil.ToFloat64(s.ingestStats.clamped.WithLabelValues("future")); n != 4 {
		t.Errorf("clamped future %v, want 4", n)
	}
	if n := testutil.ToFloat64(s.ingestStats.clamped.WithLabelValues("past")); n != 1 {
		t.Errorf("clamped past %v, want 1 (year 1)", n)
	}
}

// TestSequenceJumpBounded: a batch whose sequence numbers jump far past the
// cursor (to 2^64-1) is refused with a clear error and counted, and the cursor
// stays; jumps an honest probe makes (its spool fence, results it reports
// dropped) are accepted and the skipped numbers counted as missing.
func TestSequenceJumpBounded(t *testing.T) {
	s := runServer(t, baseConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	registerSQL1(t, api)
	now := time.Now()
	report := func(dropped uint64, seqs ...uint64) (*linkmeshv1.ReportResponse, error) {
		var rs []*linkmeshv1.Result
		for _, q := range seqs {
			rs = append(rs, ingestResult(q, now, linkmeshv1.Code_CODE_OK))
		}
		return api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, DroppedTotal: dropped, Results: rs})
	}
	if _, err := report(0, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	_, err := report(0, 4, math.MaxUint64)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "jump too far ahead") {
		t.Fatalf("a jump to 2^64-1: got %v, want InvalidArgument naming the jump", err)
	}
	if n := testutil.ToFloat64(s.rejected.WithLabelValues("seq_jump")); n != 1 {
		t.Errorf("requests_rejected_total{reason=seq_jump} = %v, want 1", n)
	}
	resp, err := report(0, 4)
	if err != nil || resp.GetReceivedSeq() != 4 {
		t.Fatalf("after the refused jump: %v, %v; want the cursor at 3 still, 4 counted", resp, err)
	}
	// The spool fence (256) plus a batch: accepted.
	if resp, err = report(0, 4+256+500); err != nil || resp.GetReceivedSeq() != 760 {
		t.Fatalf("a fence-sized jump: %v, %v; want it accepted", resp, err)
	}
	// Three million dropped from a full buffer while this coordinator was away,
	// and said so: accepted.
	if resp, err = report(3_000_000, 760+3_000_000+1); err != nil || resp.GetReceivedSeq() != 3_000_761 {
		t.Fatalf("a jump the drop count explains: %v, %v; want it accepted", resp, err)
	}
	snap := s.Store().Snapshot(time.Minute)
	p, _ := snap.Probe("sql1")
	if want := uint64(255 + 500 + 3_000_000); p.Gaps != want {
		t.Errorf("missing %d, want %d", p.Gaps, want)
	}
	// The same jump without the drops to explain it: refused (unless this
	// test stalled for 100 s between two reports).
	jump := uint64(pathstate.MaxSeqJump + 100*pathstate.MaxResultRate)
	if _, err = report(3_000_000, 3_000_761+jump); status.Code(err) != codes.InvalidArgument {
		t.Errorf("an unexplained jump of %d: got %v, want refused", jump, err)
	}
}

// TestReportPathLimitCountsResults: results for paths beyond
// limits.max_paths_per_probe are refused one by one — refused_total counts
// each result, not each report — while the batch is acked and the paths within
// the limit are counted.
func TestReportPathLimitCountsResults(t *testing.T) {
	s := runServer(t, reportConfig+"limits: {max_paths_per_probe: 1}\n", nil)
	api := dial(t, s.GRPCAddr().String())
	registerSQL1(t, api)
	now := time.Now()
	var batch []*linkmeshv1.Result
	for i, port := range []uint32{5022, 5023, 5024, 5025, 5023} {
		r := ingestResult(uint64(i+1), now, linkmeshv1.Code_CODE_OK)
		r.Port = port
		batch = append(batch, r)
	}
	resp, err := api.Report(context.Background(), &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: batch})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetReceivedSeq() != 5 {
		t.Errorf("received_seq %d, want 5: the refused results are acked all the same", resp.GetReceivedSeq())
	}
	if p := onlyPath(t, s); p.Port != 5022 || p.Counts[linkmeshv1.Code_CODE_OK] != 1 {
		t.Errorf("path %v with %d ok; want 5022 with 1", p.Key, p.Counts[linkmeshv1.Code_CODE_OK])
	}
	if got := refusedCount(t, s, admit.ReasonPathLimit); got != 4 {
		t.Errorf(`linkmesh_coordinator_refused_total{reason="path_limit"} = %v, want 4 (one per refused result)`, got)
	}
}

// TestReportNotPlannedCounted: a result for a path the policy does not expand
// to (a probe sending what it likes) is acked, makes no path and no series,
// and is counted in linkmesh_coordinator_refused_total{reason="not_planned"}.
func TestReportNotPlannedCounted(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	registerSQL1(t, api)
	planned := ingestResult(1, time.Now(), linkmeshv1.Code_CODE_OK)
	stray := ingestResult(2, time.Now(), linkmeshv1.Code_CODE_OK)
	stray.Target = "somewhere-else"
	resp, err := api.Report(context.Background(), &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: []*linkmeshv1.Result{planned, stray}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetReceivedSeq() != 2 {
		t.Errorf("received_seq %d, want 2: the refused result is acked all the same", resp.GetReceivedSeq())
	}
	if p := onlyPath(t, s); p.Target != "mi1" {
		t.Errorf("the one path is %v, want the planned one to mi1", p.Key)
	}
	if got := refusedCount(t, s, admit.ReasonNotPlanned); got != 1 {
		t.Errorf(`linkmesh_coordinator_refused_total{reason="not_planned"} = %v, want 1`, got)
	}
}

// refusedCount is linkmesh_coordinator_refused_total{reason} on s (-1: absent).
func refusedCount(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	mfs, err := gatherAll(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "linkmesh_coordinator_refused_total" && m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}
