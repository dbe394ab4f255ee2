package coordinator

import (
	"fmt"
	"unicode/utf8"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// codec is the gRPC server's codec. Reports — nearly every byte a coordinator
// receives — are decoded by the code protoc-gen-go-vtproto generated, without
// reflection (a third of the ingest CPU was protobuf's reflective decoder:
// docs/benchmarks.md#scale); everything else, and every answer, goes through
// gRPC's own proto codec.
//
// The generated decoder is stricter than protobuf's in one way (a field sent
// with the wrong wire type is an error, not an unknown field) and looser in
// others. It does not check that strings are UTF-8: reportUTF8 does, so no
// string protobuf would refuse reaches the coordinator
// (TestCodecRefusesWhatProtoRefuses walks every string field of a report).
// It takes, where protobuf refuses, a varint longer than 64 bits (as some
// 64-bit number, which a probe could send anyway) and a malformed field this
// coordinator does not know (never read). FuzzCodec holds it to that: never a
// panic, nothing protobuf could not encode, and what both take, the same.
type codec struct {
	proto encoding.CodecV2
}

func newCodec() codec { return codec{proto: encoding.GetCodecV2(protocodec.Name)} }

// Name is the content subtype this codec serves.
func (codec) Name() string { return protocodec.Name }

// Marshal encodes an answer with the proto codec.
func (c codec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

// Unmarshal decodes a request into v.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*linkmeshv1.ReportRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if err := m.UnmarshalVT(buf.ReadOnlyData()); err != nil {
		return fmt.Errorf("decode a report: %w", err)
	}
	return reportUTF8(m)
}

// reportUTF8 reports the first string of r that is not valid UTF-8.
func reportUTF8(r *linkmeshv1.ReportRequest) error {
	if !utf8.ValidString(r.GetProbe()) {
		return errUTF8("probe")
	}
	for i, x := range r.GetResults() {
		for _, f := range [...]struct{ name, s string }{
			{"target_id", x.GetTargetId()}, {"target", x.GetTarget()}, {"target_site", x.GetTargetSite()},
			{"host", x.GetHost()}, {"detail", x.GetDetail()}, {"round", x.GetRound()},
		} {
			if !utf8.ValidString(f.s) {
				return errUTF8(fmt.Sprintf("results[%d].%s", i, f.name))
			}
		}
		for j, a := range x.GetAddresses() {
			if !utf8.ValidString(a) {
				return errUTF8(fmt.Sprintf("results[%d].addresses[%d]", i, j))
			}
		}
	}
	for i, x := range r.GetMemberRtts() {
		if !utf8.ValidString(x.GetMember()) {
			return errUTF8(fmt.Sprintf("member_rtts[%d].member", i))
		}
	}
	for i, x := range r.GetStandIns() {
		if !utf8.ValidString(x.GetDetail()) {
			return errUTF8(fmt.Sprintf("stand_ins[%d].detail", i))
		}
	}
	return nil
}

func errUTF8(field string) error {
	return fmt.Errorf("decode a report: field %s is not valid UTF-8", field)
}
