package pathstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestValidateProbe(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[string(rune('a'+i))] = "x"
	}
	tests := []struct {
		name    string
		modify  func(p *linkmeshv1.ProbeInfo)
		wantErr string // "" means valid
	}{
		{"valid", func(p *linkmeshv1.ProbeInfo) {}, ""},
		{"valid without responder", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "" }, ""},
		{"valid responder with empty host", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = ":5023" }, ""},
		{"valid responder IPv6", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "[fd00::1]:5023" }, ""},
		{"valid responder host name", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "sql01.corp.example:5023" }, ""},
		{"valid name of 63 chars", func(p *linkmeshv1.ProbeInfo) { p.Name = strings.Repeat("a", 63) }, ""},
		{"valid 16 labels", func(p *linkmeshv1.ProbeInfo) {
			p.Labels = map[string]string{}
			for i := range MaxLabels {
				p.Labels[string(rune('a'+i))] = "x"
			}
		}, ""},
		{"name with colon (gossip reserves it for coordinator:NAME)", func(p *linkmeshv1.ProbeInfo) { p.Name = "sql01:a" }, "probe.name"},
		{"empty name", func(p *linkmeshv1.ProbeInfo) { p.Name = "" }, "probe.name"},
		{"name of 64 chars", func(p *linkmeshv1.ProbeInfo) { p.Name = strings.Repeat("a", 64) }, "probe.name"},
		{"name with space", func(p *linkmeshv1.ProbeInfo) { p.Name = "sql 01" }, "probe.name"},
		{"name with trailing newline", func(p *linkmeshv1.ProbeInfo) { p.Name = "sql01\n" }, "probe.name"},
		{"name with embedded newline", func(p *linkmeshv1.ProbeInfo) { p.Name = "sql01\nfake_metric 1" }, "probe.name"},
		{"name with quote", func(p *linkmeshv1.ProbeInfo) { p.Name = `sql01"}` }, "probe.name"},
		{"name starting with dash", func(p *linkmeshv1.ProbeInfo) { p.Name = "-sql" }, "probe.name"},
		{"name non-ASCII", func(p *linkmeshv1.ProbeInfo) { p.Name = "sqlé" }, "probe.name"},
		{"name invalid UTF-8", func(p *linkmeshv1.ProbeInfo) { p.Name = "sql\xff" }, "probe.name"},
		{"empty site", func(p *linkmeshv1.ProbeInfo) { p.Site = "" }, "probe.site"},
		{"site with space", func(p *linkmeshv1.ProbeInfo) { p.Site = "my site" }, "probe.site"},
		{"site of 64 chars", func(p *linkmeshv1.ProbeInfo) { p.Site = strings.Repeat("s", 64) }, "probe.site"},
		{"too many labels", func(p *linkmeshv1.ProbeInfo) { p.Labels = many }, "probe.labels"},
		{"label key with space", func(p *linkmeshv1.ProbeInfo) { p.Labels = map[string]string{"my key": "v"} }, "probe.labels"},
		{"label value with newline", func(p *linkmeshv1.ProbeInfo) { p.Labels = map[string]string{"k": "v\n"} }, "probe.labels"},
		{"empty label value", func(p *linkmeshv1.ProbeInfo) { p.Labels = map[string]string{"k": ""} }, "probe.labels"},
		{"label value of 64 chars", func(p *linkmeshv1.ProbeInfo) { p.Labels = map[string]string{"k": strings.Repeat("v", 64)} }, "probe.labels"},
		{"version too long", func(p *linkmeshv1.ProbeInfo) { p.Version = strings.Repeat("1", 65) }, "probe.version"},
		{"version invalid UTF-8", func(p *linkmeshv1.ProbeInfo) { p.Version = "v1\xc3" }, "probe.version"},
		{"os too long", func(p *linkmeshv1.ProbeInfo) { p.Os = strings.Repeat("l", 65) }, "probe.os"},
		{"responder without port", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "10.0.0.1" }, "probe.responder_address"},
		{"responder port 0", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "10.0.0.1:0" }, "probe.responder_address"},
		{"responder port 65536", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "10.0.0.1:65536" }, "probe.responder_address"},
		{"responder port name", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "10.0.0.1:http" }, "probe.responder_address"},
		{"responder host with space", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "a b:5023" }, "probe.responder_address"},
		{"responder host with newline", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = "a\nb:5023" }, "probe.responder_address"},
		{"responder too long", func(p *linkmeshv1.ProbeInfo) { p.ResponderAddress = strings.Repeat("a", 300) + ":5023" }, "probe.responder_address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probeInfo("sql01", "sql", 1)
			tt.modify(p)
			checkErr(t, ValidateProbe(p), tt.wantErr)
		})
	}
	t.Run("nil", func(t *testing.T) {
		checkErr(t, ValidateProbe(nil), "missing")
	})
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("got error %q, want none", err)
	case want != "" && err == nil:
		t.Errorf("got no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("got error %q, want one containing %q", err, want)
	}
}

func TestValidateReport(t *testing.T) {
	resultCase := func(f func(r *linkmeshv1.Result)) func(*linkmeshv1.ReportRequest) {
		return func(req *linkmeshv1.ReportRequest) { f(req.Results[0]) }
	}
	tests := []struct {
		name    string
		modify  func(req *linkmeshv1.ReportRequest)
		wantErr string
	}{
		{"valid", func(*linkmeshv1.ReportRequest) {}, ""},
		{"valid empty batch (heartbeat)", func(req *linkmeshv1.ReportRequest) { req.Results = nil }, ""},
		{"valid full batch", func(req *linkmeshv1.ReportRequest) { req.Results = seqs(seqRange(MaxBatch)...) }, ""},
		{"valid failure without rtt", resultCase(func(r *linkmeshv1.Result) { r.Code = linkmeshv1.Code_CODE_TIMEOUT; r.Rtt = nil }), ""},
		{"valid dns kind, port 0", resultCase(func(r *linkmeshv1.Result) { r.Kind = linkmeshv1.Kind_KIND_DNS; r.Port = 0 }), ""},
		{"valid IPv6 target", resultCase(func(r *linkmeshv1.Result) { r.Target = "fd00::1"; r.Host = "fd00::1" }), ""},
		{"valid zero rtt", resultCase(func(r *linkmeshv1.Result) { r.Rtt = durationpb.New(0) }), ""},
		{"valid rtt of an hour", resultCase(func(r *linkmeshv1.Result) { r.Rtt = durationpb.New(time.Hour) }), ""},
		{"valid loss ratio 1", resultCase(func(r *linkmeshv1.Result) { r.LossRatio = 1 }), ""},
		{"valid exchanges all lost", resultCase(func(r *linkmeshv1.Result) { r.Exchanges, r.ExchangesLost = 101, 101 }), ""},
		{"valid detail 512 bytes", resultCase(func(r *linkmeshv1.Result) { r.Detail = strings.Repeat("d", 512) }), ""},
		{"valid code error (last)", resultCase(func(r *linkmeshv1.Result) { r.Code = linkmeshv1.Code_CODE_ERROR }), ""},
		{"valid round", resultCase(func(r *linkmeshv1.Result) { r.Round = "chk-0a1b2c3d" }), ""},
		{"valid round of 64 chars", resultCase(func(r *linkmeshv1.Result) { r.Round = strings.Repeat("r", 64) }), ""},

		{"empty probe name", func(req *linkmeshv1.ReportRequest) { req.Probe = "" }, "probe"},
		{"probe name with newline", func(req *linkmeshv1.ReportRequest) { req.Probe = "sql01\n" }, "probe"},
		{"probe name of 64 chars", func(req *linkmeshv1.ReportRequest) { req.Probe = strings.Repeat("p", 64) }, "probe"},
		{"batch over MaxBatch", func(req *linkmeshv1.ReportRequest) { req.Results = seqs(seqRange(MaxBatch + 1)...) }, "at most 1000"},
		{"nil result", func(req *linkmeshv1.ReportRequest) { req.Results = append(req.Results, nil) }, "results[1]"},
		{"seq 0", resultCase(func(r *linkmeshv1.Result) { r.Seq = 0 }), "seq"},
		{"code unspecified", resultCase(func(r *linkmeshv1.Result) { r.Code = linkmeshv1.Code_CODE_UNSPECIFIED }), "code: 0"},
		{"code 99", resultCase(func(r *linkmeshv1.Result) { r.Code = 99 }), "code: 99"},
		{"code 9 (one past the last)", resultCase(func(r *linkmeshv1.Result) { r.Code = linkmeshv1.Code(vocab.NumCodes) }), "code: 9"},
		{"code -1", resultCase(func(r *linkmeshv1.Result) { r.Code = -1 }), "code: -1"},
		{"code min int32", resultCase(func(r *linkmeshv1.Result) { r.Code = math.MinInt32 }), "code"},
		{"kind unspecified", resultCase(func(r *linkmeshv1.Result) { r.Kind = linkmeshv1.Kind_KIND_UNSPECIFIED }), "kind: 0"},
		{"kind 4", resultCase(func(r *linkmeshv1.Result) { r.Kind = 4 }), "kind: 4"},
		{"kind -1", resultCase(func(r *linkmeshv1.Result) { r.Kind = -1 }), "kind: -1"},
		{"empty target", resultCase(func(r *linkmeshv1.Result) { r.Target = "" }), "target"},
		{"target with space", resultCase(func(r *linkmeshv1.Result) { r.Target = "mi 01" }), "target"},
		{"target with newline", resultCase(func(r *linkmeshv1.Result) { r.Target = "mi01\n" }), "target"},
		{"target with quote and brace", resultCase(func(r *linkmeshv1.Result) { r.Target = `mi01"}` }), "target"},
		{"target of 254 chars", resultCase(func(r *linkmeshv1.Result) { r.Target = strings.Repeat("t", 254) }), "target"},
		{"empty target site", resultCase(func(r *linkmeshv1.Result) { r.TargetSite = "" }), "target_site"},
		{"target site with space", resultCase(func(r *linkmeshv1.Result) { r.TargetSite = "m i" }), "target_site"},
		{"target site with newline", resultCase(func(r *linkmeshv1.Result) { r.TargetSite = "mi\n" }), "target_site"},
		{"target site of 64 chars", resultCase(func(r *linkmeshv1.Result) { r.TargetSite = strings.Repeat("s", 64) }), "target_site"},
		{"host with space", resultCase(func(r *linkmeshv1.Result) { r.Host = "10.0.0.1 " }), "host"},
		{"port 65536", resultCase(func(r *linkmeshv1.Result) { r.Port = 65536 }), "port"},
		{"port max uint32", resultCase(func(r *linkmeshv1.Result) { r.Port = math.MaxUint32 }), "port"},
		{"missing time", resultCase(func(r *linkmeshv1.Result) { r.Time = nil }), "time"},
		{"time out of range", resultCase(func(r *linkmeshv1.Result) { r.Time = &timestamppb.Timestamp{Seconds: math.MaxInt64} }), "time"},
		{"time with bad nanos", resultCase(func(r *linkmeshv1.Result) { r.Time = &timestamppb.Timestamp{Seconds: 1, Nanos: -1} }), "time"},
		{"negative rtt", resultCase(func(r *linkmeshv1.Result) { r.Rtt = durationpb.New(-time.Millisecond) }), "rtt"},
		{"rtt over an hour", resultCase(func(r *linkmeshv1.Result) { r.Rtt = durationpb.New(time.Hour + 1) }), "rtt"},
		{"rtt with mixed signs", resultCase(func(r *linkmeshv1.Result) { r.Rtt = &durationpb.Duration{Seconds: 1, Nanos: -5} }), "rtt"},
		{"rtt beyond int64 nanoseconds", resultCase(func(r *linkmeshv1.Result) { r.Rtt = &durationpb.Duration{Seconds: 315576000000} }), "rtt"},
		{"negative jitter", resultCase(func(r *linkmeshv1.Result) { r.Jitter = durationpb.New(-1) }), "jitter"},
		{"detail 513 bytes", resultCase(func(r *linkmeshv1.Result) { r.Detail = strings.Repeat("d", 513) }), "detail"},
		{"detail invalid UTF-8", resultCase(func(r *linkmeshv1.Result) { r.Detail = "bad \xff" }), "detail"},
		{"exchanges lost above exchanges", resultCase(func(r *linkmeshv1.Result) { r.Exchanges, r.ExchangesLost = 3, 4 }), "exchanges_lost"},
		{"exchanges above the bound", resultCase(func(r *linkmeshv1.Result) { r.Exchanges = 1001 }), "exchanges"},
		{"loss ratio NaN", resultCase(func(r *linkmeshv1.Result) { r.LossRatio = math.NaN() }), "loss_ratio"},
		{"loss ratio -0.1", resultCase(func(r *linkmeshv1.Result) { r.LossRatio = -0.1 }), "loss_ratio"},
		{"loss ratio 1.5", resultCase(func(r *linkmeshv1.Result) { r.LossRatio = 1.5 }), "loss_ratio"},
		{"loss ratio +Inf", resultCase(func(r *linkmeshv1.Result) { r.LossRatio = math.Inf(1) }), "loss_ratio"},
		{"throughput NaN", resultCase(func(r *linkmeshv1.Result) { r.ThroughputBitsPerSecond = math.NaN() }), "throughput"},
		{"throughput negative", resultCase(func(r *linkmeshv1.Result) { r.ThroughputBitsPerSecond = -1 }), "throughput"},
		{"throughput +Inf", resultCase(func(r *linkmeshv1.Result) { r.ThroughputBitsPerSecond = math.Inf(1) }), "throughput"},
		{"round of 65 chars", resultCase(func(r *linkmeshv1.Result) { r.Round = strings.Repeat("r", 65) }), "round"},
		{"round with space", resultCase(func(r *linkmeshv1.Result) { r.Round = "chk 1" }), "round"},
		{"round with newline", resultCase(func(r *linkmeshv1.Result) { r.Round = "chk-1\n" }), "round"},
		{"round starting with dash", resultCase(func(r *linkmeshv1.Result) { r.Round = "-chk" }), "round"},
		{"65 addresses", resultCase(func(r *linkmeshv1.Result) { r.Addresses = make([]string, 65) }), "addresses"},
		{"error names the index and seq", func(req *linkmeshv1.ReportRequest) {
			req.Results = seqs(1, 2, 3)
			req.Results[2].Code = 99
		}, "results[2] (seq 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: seqs(1)}
			tt.modify(req)
			checkErr(t, validateAll(req), tt.wantErr)
		})
	}
	t.Run("nil request", func(t *testing.T) {
		checkErr(t, validateAll(nil), "probe")
	})
}

func seqRange(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// FuzzValidateReport: whatever bytes arrive, ValidateReport does not panic, and
// a batch it accepts can be ingested without panicking.
func FuzzValidateReport(f *testing.F) {
	add := func(req *linkmeshv1.ReportRequest) {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1})
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, DroppedTotal: 3, Results: seqs(1, 2, 5)})
	unsorted := seqs(9, 3, 3)
	unsorted[0].Code = linkmeshv1.Code_CODE_TIMEOUT
	unsorted[0].Rtt = nil
	unsorted[1].Rtt = durationpb.New(10 * time.Second)
	unsorted[2].Kind = linkmeshv1.Kind_KIND_DNS
	unsorted[2].Addresses = []string{"10.1.0.4"}
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: unsorted})
	huge := res(math.MaxUint64)
	huge.Rtt = durationpb.New(time.Hour)
	huge.LossRatio, huge.ThroughputBitsPerSecond = 0.5, 1e9
	huge.Jitter = durationpb.New(time.Millisecond)
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: []*linkmeshv1.Result{huge}})
	bad := res(1)
	bad.Code = 99
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: []*linkmeshv1.Result{bad}})
	round := seqs(1, 2, 3)
	round[1].Round, round[1].TargetId = "chk-0a1b2c3d", "check/chk-0a1b2c3d/p3"
	round[2].Round = "bad round"
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: round[:2]})
	add(&linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: round})
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x05, 's', 'q', 'l', '0', '1', 0x1a, 0x02, 0x08, 0x01})

	f.Fuzz(func(t *testing.T, data []byte) {
		var req linkmeshv1.ReportRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			return
		}
		if err := validateAll(&req); err != nil {
			return
		}
		s := New(func() time.Time { return t0 })
		s.Register(&linkmeshv1.ProbeInfo{Name: req.GetProbe(), Site: "sql", Epoch: req.GetEpoch()})
		s.SetAside(func(r *linkmeshv1.Result) bool { return r.GetRound() != "" })
		st, err := s.Ingest(req.GetProbe(), req.GetEpoch(), req.GetDroppedTotal(), req.GetResults())
		if errors.Is(err, ErrSeqJump) {
			return
		}
		if err != nil {
			t.Fatalf("Ingest of a valid batch: %v", err)
		}
		if st.Counted+len(st.Aside)+st.Duplicates != len(req.GetResults()) {
			t.Fatalf("Ingest: counted %d + aside %d + duplicates %d, want %d results", st.Counted, len(st.Aside), st.Duplicates, len(req.GetResults()))
		}
		// A replay counts nothing and hands nothing set aside on again.
		st, err = s.Ingest(req.GetProbe(), req.GetEpoch(), req.GetDroppedTotal(), req.GetResults())
		if err != nil || st.Counted != 0 || len(st.Aside) != 0 {
			t.Fatalf("replay: got %+v, %v; want nothing counted", st, err)
		}
		before := s.Snapshot(time.Minute)
		// A checkpoint taken now and restored elsewhere holds the same counters
		// and cursor, and counts the same replay as duplicates again.
		cp, _ := s.Checkpoint(true)
		js, err := json.Marshal(cp)
		if err != nil {
			t.Fatalf("encode checkpoint: %v", err)
		}
		var back Checkpoint
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("decode checkpoint: %v", err)
		}
		r := New(func() time.Time { return t0 })
		r.EnableCheckpoints()
		if _, err := r.Restore(&back); err != nil {
			t.Fatalf("restore: %v", err)
		}
		after := r.Snapshot(time.Minute)
		if len(after.Paths) != len(before.Paths) {
			t.Fatalf("restored %d paths, want %d", len(after.Paths), len(before.Paths))
		}
		for i := range after.Paths {
			a, b := after.Paths[i], before.Paths[i]
			if a.Key != b.Key || a.Counts != b.Counts || a.BucketCounts != b.BucketCounts || a.RTTCount != b.RTTCount {
				t.Fatalf("path %d after restore: %+v, want %+v", i, a, b)
			}
		}
		st, err = r.Ingest(req.GetProbe(), req.GetEpoch(), req.GetDroppedTotal(), req.GetResults())
		if err != nil || st.Counted != 0 {
			t.Fatalf("replay after restore: got %+v, %v; want nothing counted", st, err)
		}
	})
}

// FuzzValidateProbe: whatever a Register carries, ValidateProbe does not panic,
// and a description it accepts registers.
func FuzzValidateProbe(f *testing.F) {
	for _, p := range []*linkmeshv1.ProbeInfo{
		{Name: "sql01", Site: "sql", Epoch: 1, ResponderAddress: ":5023", Labels: map[string]string{"role": "primary"}},
		{Name: "mi-vnet-01", Site: "mi", Version: "v1.2.3", Os: "linux/amd64", ResponderAddress: "[fe80::1%eth0]:5023"},
		{Name: "", Site: "sql"},
	} {
		b, err := proto.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p linkmeshv1.ProbeInfo
		if err := proto.Unmarshal(data, &p); err != nil {
			return
		}
		if err := ValidateProbe(&p); err != nil {
			return
		}
		if !labelValueRe.MatchString(p.GetName()) || len(p.GetLabels()) > MaxLabels {
			t.Fatalf("accepted %+v", &p)
		}
		s := New(func() time.Time { return t0 })
		s.SetLimits(Limits{MaxProbes: 1})
		if _, err := s.TryRegister(&p); err != nil {
			t.Fatalf("register a valid probe: %v", err)
		}
	})
}

func TestValidateEchoAndDNSFields(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*linkmeshv1.ReportRequest)
		want string // "" valid
	}{
		{"mtu and black hole", func(r *linkmeshv1.ReportRequest) { r.Results[0].MtuBytes, r.Results[0].MtuBlackhole = 1400, true }, ""},
		{"black hole without mtu", func(r *linkmeshv1.ReportRequest) { r.Results[0].MtuBlackhole = true }, "mtu_blackhole"},
		{"mtu too large", func(r *linkmeshv1.ReportRequest) { r.Results[0].MtuBytes = 70000 }, "mtu_bytes"},
		{"addresses", func(r *linkmeshv1.ReportRequest) { r.Results[0].Addresses = []string{"10.1.2.5", "fd00::1"} }, ""},
		{"address not an ip", func(r *linkmeshv1.ReportRequest) { r.Results[0].Addresses = []string{"evil\n"} }, "addresses[0]"},
		{"stand-in", func(r *linkmeshv1.ReportRequest) {
			r.StandIns = []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN, Detail: "in use"}}
		}, ""},
		{"stand-in bad state", func(r *linkmeshv1.ReportRequest) {
			r.StandIns = []*linkmeshv1.StandInStatus{{Port: 5022, State: 99}}
		}, "stand_ins[0].state"},
		{"stand-in bad port", func(r *linkmeshv1.ReportRequest) {
			r.StandIns = []*linkmeshv1.StandInStatus{{Port: 0, State: linkmeshv1.StandInState_STAND_IN_STATE_SERVING}}
		}, "stand_ins[0].port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &linkmeshv1.ReportRequest{Probe: "sql01", Epoch: 1, Results: []*linkmeshv1.Result{res(1)}}
			tt.mod(r)
			err := validateAll(r)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// validateAll is ValidateReport and ValidateResult of every result: what the
// coordinator checked before it dropped an invalid result instead of its batch.
func validateAll(r *linkmeshv1.ReportRequest) error {
	if err := ValidateReport(r); err != nil {
		return err
	}
	for i, res := range r.GetResults() {
		if _, err := ValidateResult(res); err != nil {
			return fmt.Errorf("results[%d] (seq %d): %w", i, res.GetSeq(), err)
		}
	}
	return nil
}
