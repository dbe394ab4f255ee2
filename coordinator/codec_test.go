package coordinator

import (
	"strings"
	"testing"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"
)

// fullReport is a report with every field of every message set.
func fullReport() *linkmeshv1.ReportRequest {
	now := time.Unix(1_800_000_000, 123)
	return &linkmeshv1.ReportRequest{
		Probe: "sql-1", Epoch: 7, DroppedTotal: 3, Backlog: 9,
		Results: []*linkmeshv1.Result{{
			Seq: 1, Time: timestamppb.New(now), TargetId: "t1", Kind: linkmeshv1.Kind_KIND_ECHO, Target: "mi-1", TargetSite: "mi",
			Host: "10.0.0.4", Port: 5022, Code: linkmeshv1.Code_CODE_TIMEOUT, Rtt: durationpb.New(1500 * time.Microsecond),
			RttSource: linkmeshv1.RTTSource_RTT_SOURCE_KERNEL, SynRetransmits: 2, Detail: "no answer — «é»", LossRatio: 0.25,
			Jitter: durationpb.New(time.Millisecond), MtuBytes: 1400, ThroughputBitsPerSecond: 1e9, Addresses: []string{"10.0.0.4", "10.0.0.5"},
			PortEnd: 11999, ProbedPort: 11003, RefusedIsReach: true, MtuBlackhole: true, Round: "r-1", Exchanges: 10, ExchangesLost: 1,
		}, {Seq: 2, Target: "mi-2"}},
		MemberRtts: []*linkmeshv1.MemberRTT{{Member: "coordinator:c1", Rtt: durationpb.New(time.Millisecond), Time: timestamppb.New(now)}},
		StandIns:   []*linkmeshv1.StandInStatus{{Port: 5022, State: linkmeshv1.StandInState(1), Detail: "listening"}},
	}
}

func decode(t *testing.T, b []byte) (*linkmeshv1.ReportRequest, error) {
	t.Helper()
	m := new(linkmeshv1.ReportRequest)
	return m, newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, m)
}

// TestCodecDecodesAsProto: a report with every field set decodes to what
// protobuf's own decoder gives, and a field this coordinator does not know
// (a newer probe's) is kept as protobuf keeps it.
func TestCodecDecodesAsProto(t *testing.T) {
	b, err := proto.Marshal(fullReport())
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 5)
	got, err := decode(t, b)
	if err != nil {
		t.Fatal(err)
	}
	want := new(linkmeshv1.ReportRequest)
	if err := proto.Unmarshal(b, want); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
		t.Errorf("decoded report differs from protobuf's (-proto +codec):\n%s", d)
	}
	// Every field set: a field added to the messages without a value here
	// would go untested.
	var unset []string
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if !m.Has(fd) {
				unset = append(unset, string(fd.FullName()))
				continue
			}
			if fd.Message() != nil && fd.IsList() {
				walk(m.Get(fd).List().Get(0).Message())
			} else if fd.Message() != nil && fd.Message().ParentFile().Package() == "linkmesh.v1" {
				walk(m.Get(fd).Message())
			}
		}
	}
	walk(fullReport().ProtoReflect())
	if len(unset) > 0 {
		t.Errorf("fullReport leaves fields unset: %s", strings.Join(unset, ", "))
	}
}

// TestCodecRefusesWhatProtoRefuses: every string field a report can carry,
// at any depth, refused when it is not UTF-8 — as protobuf's decoder refuses
// it — with the field named.
func TestCodecRefusesWhatProtoRefuses(t *testing.T) {
	var visit func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor)
	tested := 0
	visit = func(md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor) {
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			switch {
			case fd.Kind() == protoreflect.StringKind:
				tested++
				b := protowire.AppendTag(nil, fd.Number(), protowire.BytesType)
				b = protowire.AppendBytes(b, []byte("ok\xff"))
				for j := len(path) - 1; j >= 0; j-- {
					outer := protowire.AppendTag(nil, path[j].Number(), protowire.BytesType)
					b = protowire.AppendBytes(outer, b)
				}
				name := string(fd.FullName())
				if proto.Unmarshal(b, new(linkmeshv1.ReportRequest)) == nil {
					t.Fatalf("%s: protobuf's decoder took invalid UTF-8; the test's premise is wrong", name)
				}
				_, err := decode(t, b)
				if err == nil || !strings.Contains(err.Error(), "UTF-8") || !strings.Contains(err.Error(), string(fd.Name())) {
					t.Errorf("%s not UTF-8: codec says %v", name, err)
				}
			case fd.Message() != nil && fd.Message().ParentFile().Package() == "linkmesh.v1":
				visit(fd.Message(), append(path, fd))
			}
		}
	}
	visit((&linkmeshv1.ReportRequest{}).ProtoReflect().Descriptor(), nil)
	if tested < 10 {
		t.Errorf("only %d string fields found", tested)
	}
}

// FuzzCodec: whatever bytes arrive, the codec never panics; a report it takes
// is one protobuf could encode (its strings are UTF-8); and what both
// decoders take, they read the same (the codec drops the unknown fields inside
// a Timestamp or Duration, which nothing reads). Where they differ in what
// they take (the codec's doc comment says how), the codec's answer is still
// a report protobuf could encode.
func FuzzCodec(f *testing.F) {
	full, err := proto.Marshal(fullReport())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte{})
	f.Add(full[:len(full)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decode(t, b)
		if err != nil {
			return
		}
		if _, err := proto.Marshal(got); err != nil {
			t.Fatalf("the codec took a report protobuf cannot encode: %v", err)
		}
		want := new(linkmeshv1.ReportRequest)
		if proto.Unmarshal(b, want) != nil {
			return
		}
		if d := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreUnknown()); d != "" {
			t.Errorf("decoded report differs from protobuf's (-proto +codec):\n%s", d)
		}
	})
}
