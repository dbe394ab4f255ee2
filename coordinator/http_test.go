package coordinator

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/explain"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestAPILatestAttempt: /api/v1/paths tells the latest attempt as it was. A
// path whose latest attempt timed out after an ok at 2 ms has no last_rtt_ms
// (it measured none) and keeps 2 ms as last_success_rtt_ms; last_detail is the
// probe's own words and last_explanation the result's explanation; the window
// counts the failure apart from loss.
func TestAPILatestAttempt(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mk := func(seq uint64, at time.Duration, code linkmeshv1.Code, rtt time.Duration, detail string) *linkmeshv1.Result {
		r := &linkmeshv1.Result{Seq: seq, Time: timestamppb.New(now.Add(at)), Kind: linkmeshv1.Kind_KIND_TCP,
			Target: "mi1", TargetSite: "mi", Port: 5022, Code: code, Detail: detail}
		if rtt > 0 {
			r.Rtt = durationpb.New(rtt)
		}
		return r
	}
	const detail = "dial tcp 10.1.0.4:5022: i/o timeout"
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: []*linkmeshv1.Result{
		mk(1, -2*time.Second, linkmeshv1.Code_CODE_OK, 2*time.Millisecond, "connected"),
		mk(2, -time.Second, linkmeshv1.Code_CODE_TIMEOUT, 0, detail),
	}}); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/api/v1/paths")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Paths []map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Paths) != 1 {
		t.Fatalf("%d paths, want 1: %v", len(body.Paths), body.Paths)
	}
	p := body.Paths[0]
	if v, ok := p["last_rtt_ms"]; ok {
		t.Errorf("last_rtt_ms = %v on a path whose latest attempt timed out; want it absent", v)
	}
	if v := p["last_success_rtt_ms"]; v != 2.0 {
		t.Errorf("last_success_rtt_ms = %v, want 2", v)
	}
	if v := p["last_detail"]; v != detail {
		t.Errorf("last_detail = %v, want %q", v, detail)
	}
	if v, want := p["last_explanation"], explain.Result(linkmeshv1.Code_CODE_TIMEOUT); v != want {
		t.Errorf("last_explanation = %v, want %q", v, want)
	}
	w, _ := p["window"].(map[string]any)
	if w["attempts"] != 2.0 || w["failed"] != 1.0 || w["failure_ratio"] != 0.5 {
		t.Errorf("window %v: want attempts 2, failed 1, failure_ratio 0.5", w)
	}
}
