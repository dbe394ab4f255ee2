package attempt

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestToProto(t *testing.T) {
	tg := &linkmeshv1.Target{Id: "sql->mi/tcp/mi01:5023/tcp", Kind: linkmeshv1.Kind_KIND_TCP}
	tg.Name, tg.Site, tg.Host, tg.Port = "mi01", "mi", "10.1.0.1", 5023
	start := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)

	codes := []struct {
		in   Code
		want linkmeshv1.Code
	}{
		{OK, linkmeshv1.Code_CODE_OK},
		{Refused, linkmeshv1.Code_CODE_REFUSED},
		{Timeout, linkmeshv1.Code_CODE_TIMEOUT},
		{Unreachable, linkmeshv1.Code_CODE_UNREACHABLE},
		{DNS, linkmeshv1.Code_CODE_DNS},
		{Reset, linkmeshv1.Code_CODE_RESET},
		{Mismatch, linkmeshv1.Code_CODE_MISMATCH},
		{Error, linkmeshv1.Code_CODE_ERROR},
		{0, linkmeshv1.Code_CODE_ERROR},  // the invalid zero value
		{99, linkmeshv1.Code_CODE_ERROR}, // unknown
	}
	covered := map[Code]bool{}
	for _, tt := range codes {
		t.Run("code "+tt.in.String(), func(t *testing.T) {
			covered[tt.in] = true
			got := ToProto(tg, start, Result{Code: tt.in})
			if got.GetCode() != tt.want {
				t.Errorf("code %v: got %v, want %v", tt.in, got.GetCode(), tt.want)
			}
			// Every attempt code's name is the metric label of its proto code.
			if tt.in.Valid() && "CODE_"+strings.ToUpper(tt.in.String()) != tt.want.String() {
				t.Errorf("code %v: name %q does not match %v", tt.in, tt.in.String(), tt.want)
			}
		})
	}
	for _, p := range vocab.Codes {
		if c := CodeOf(p); !covered[c] || c.Proto() != p {
			t.Errorf("%v: CodeOf gives %v, which has no ToProto case in this test or does not map back", p, c)
		}
	}

	sources := []struct {
		in      RTTSource
		want    linkmeshv1.RTTSource
		wantRTT bool
	}{
		{RTTNone, linkmeshv1.RTTSource_RTT_SOURCE_UNSPECIFIED, false},
		{RTTKernel, linkmeshv1.RTTSource_RTT_SOURCE_KERNEL, true},
		{RTTConnect, linkmeshv1.RTTSource_RTT_SOURCE_CONNECT, true},
		{RTTApplication, linkmeshv1.RTTSource_RTT_SOURCE_APPLICATION, true},
	}
	for _, tt := range sources {
		t.Run("rtt source "+tt.in.String(), func(t *testing.T) {
			got := ToProto(tg, start, Result{Code: Refused, RTT: 1500 * time.Microsecond, RTTSource: tt.in})
			if got.GetRttSource() != tt.want {
				t.Errorf("rtt source: got %v, want %v", got.GetRttSource(), tt.want)
			}
			if (got.GetRtt() != nil) != tt.wantRTT {
				t.Errorf("rtt set: got %v, want %v", got.GetRtt() != nil, tt.wantRTT)
			}
			if tt.wantRTT && got.GetRtt().AsDuration() != 1500*time.Microsecond {
				t.Errorf("rtt: got %v, want 1.5ms", got.GetRtt().AsDuration())
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		got := ToProto(tg, start, Result{Code: OK, RTT: time.Millisecond, RTTSource: RTTKernel, SYNRetransmits: 2, Detail: "connected",
			Exchanges: 1, ExchangesLost: 1})
		want := &linkmeshv1.Result{
			Time:           timestamppb.New(start),
			TargetId:       "sql->mi/tcp/mi01:5023/tcp",
			Kind:           linkmeshv1.Kind_KIND_TCP,
			Target:         "mi01",
			TargetSite:     "mi",
			Host:           "10.1.0.1",
			Port:           5023,
			Code:           linkmeshv1.Code_CODE_OK,
			Rtt:            durationpb.New(time.Millisecond),
			RttSource:      linkmeshv1.RTTSource_RTT_SOURCE_KERNEL,
			SynRetransmits: 2,
			Detail:         "connected",
			Exchanges:      1,
			ExchangesLost:  1,
		}
		if !proto.Equal(got, want) {
			t.Errorf("got  %v\nwant %v", got, want)
		}
	})

	t.Run("exchanges lost never above exchanges", func(t *testing.T) {
		got := ToProto(tg, start, Result{Code: Timeout, Exchanges: 3, ExchangesLost: 5})
		if got.GetExchanges() != 3 || got.GetExchangesLost() != 3 {
			t.Errorf("exchanges %d, lost %d; want 3, 3", got.GetExchanges(), got.GetExchangesLost())
		}
	})

	details := []struct {
		name, in string
		wantLen  int
	}{
		{"short", "refused", 7},
		{"exactly 500", strings.Repeat("x", 500), 500},
		{"ASCII over 500", strings.Repeat("x", 600), 500},
		{"multi-byte rune across the cut", strings.Repeat("x", 499) + "é" + "tail", 499},
		{"3-byte runes", strings.Repeat("€", 200), 498},
	}
	for _, tt := range details {
		t.Run("detail "+tt.name, func(t *testing.T) {
			got := ToProto(tg, start, Result{Code: Error, Detail: tt.in}).GetDetail()
			if len(got) != tt.wantLen || !utf8.ValidString(got) || !strings.HasPrefix(tt.in, got) {
				t.Errorf("detail: got %d bytes (valid UTF-8 %v), want a %d-byte valid prefix", len(got), utf8.ValidString(got), tt.wantLen)
			}
		})
	}
}

// TestWireRoundTrip checks that every field of an attempt's Result survives
// ToProto then FromProto, for every code and RTT source, and that a wire code
// this build does not know never comes back as OK.
func TestWireRoundTrip(t *testing.T) {
	tg := &linkmeshv1.Target{Id: "sql->mi/echo/mi01:5022/echo", Kind: linkmeshv1.Kind_KIND_ECHO, Port: 5022}
	full := Result{
		RTT: 3 * time.Millisecond, SYNRetransmits: 1, Detail: "3 round trips",
		Exchanges: 4, ExchangesLost: 1, LossRatio: 0.25, Jitter: 400 * time.Microsecond,
		MTU: 1400, MTUBlackhole: true, Throughput: 9.5e8, Addresses: []string{"10.1.0.4", "10.1.0.5"},
	}
	for _, p := range vocab.Codes {
		for _, src := range []RTTSource{RTTKernel, RTTConnect, RTTApplication, RTTLookup} {
			in := full
			in.Code, in.RTTSource = CodeOf(p), src
			out := FromProto(ToProto(tg, time.Unix(1e9, 0), in))
			if !reflect.DeepEqual(in, out) {
				t.Errorf("%v/%v:\n in  %+v\n out %+v", p, src, in, out)
			}
		}
	}
	none := FromProto(ToProto(tg, time.Unix(1e9, 0), Result{Code: Timeout, RTT: time.Second}))
	if none.RTTSource != RTTNone || none.RTT != 0 {
		t.Errorf("no RTT source: came back %v %v, want none and 0", none.RTTSource, none.RTT)
	}
	for _, p := range []linkmeshv1.Code{linkmeshv1.Code_CODE_UNSPECIFIED, 99} {
		if c := CodeOf(p); c != Error {
			t.Errorf("CodeOf(%v) = %v, want error", p, c)
		}
	}
}
