package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestReportBadMemberRTTDropped: a report whose gossip round trips name a
// member with a bad name (what a forged gossip member, or a coordinator named
// "coord one", puts into every probe's reports), carry a bad figure, or are
// too many, is still counted: the bad entries are dropped and counted by
// reason, the good ones kept. It used to be refused whole (InvalidArgument),
// so one bad gossip member blinded the mesh.
func TestReportBadMemberRTTDropped(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx := context.Background()
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", Epoch: 1}}); err != nil {
		t.Fatal(err)
	}
	now := timestamppb.Now()
	rtt := func(member string, d time.Duration) *linkmeshv1.MemberRTT {
		return &linkmeshv1.MemberRTT{Member: member, Rtt: durationpb.New(d), Time: now}
	}
	rtts := []*linkmeshv1.MemberRTT{
		rtt("bad name", time.Millisecond),
		rtt("coordinator:coord one", time.Millisecond),
		rtt("mi1", 2*time.Millisecond),
		{Member: "no-figure", Time: now},
		rtt("negative", -time.Millisecond),
		{Member: "no-time", Rtt: durationpb.New(time.Millisecond)},
	}
	for i := range pathstate.MaxMemberRTTs + 10 {
		rtts = append(rtts, rtt(fmt.Sprintf("m%03d", i), time.Millisecond))
	}
	res := &linkmeshv1.Result{
		Seq: 1, Time: now, Kind: linkmeshv1.Kind_KIND_TCP, Target: "mi1", TargetSite: "mi",
		Host: "198.18.0.2", Port: 5023, Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond),
	}
	resp, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Results: []*linkmeshv1.Result{res}, MemberRtts: rtts})
	if err != nil {
		t.Fatalf("Report: %v; want the report counted without its bad round trips", err)
	}
	if resp.GetReceivedSeq() != 1 || testutil.ToFloat64(s.ingested) != 1 {
		t.Errorf("received seq %d, ingested %v; want the result counted", resp.GetReceivedSeq(), testutil.ToFloat64(s.ingested))
	}
	if n := testutil.ToFloat64(s.rejected.WithLabelValues("invalid")); n != 0 {
		t.Errorf("requests rejected as invalid: %v, want 0", n)
	}
	for reason, want := range map[string]float64{
		pathstate.RejectName:    2,
		pathstate.RejectRTT:     3,
		pathstate.RejectTooMany: 11, // mi1 + 266 valid entries, 256 kept
	} {
		if got := testutil.ToFloat64(s.gossipStats.memberRTTs.WithLabelValues(reason)); got != want {
			t.Errorf("member_rtts dropped{reason=%s}: %v, want %v", reason, got, want)
		}
	}
	p, _ := s.store.Lookup("sql1")
	if got := p.MemberRTTs["mi1"].RTT; got != 2*time.Millisecond {
		t.Errorf("sql1's round trip to mi1: %v, want 2ms (valid entries are kept)", got)
	}
	if _, ok := p.MemberRTTs["bad name"]; ok || len(p.MemberRTTs) != pathstate.MaxMemberRTTs {
		t.Errorf("stored round trips: %d (bad name kept: %v); want %d valid ones", len(p.MemberRTTs), ok, pathstate.MaxMemberRTTs)
	}
}
