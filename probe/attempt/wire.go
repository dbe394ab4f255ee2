package attempt

import (
	"strings"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The wire format (linkmeshv1.Result) is what the reporter sends and the
// coordinator keeps; this file is the one place an attempt's Result and its
// codes turn into it and back. TestWireRoundTrip checks that every field
// survives the trip.

// codes pairs each Code with the wire format's; Code.Proto and CodeOf read it.
var codes = [...]struct {
	c Code
	p linkmeshv1.Code
}{
	{OK, linkmeshv1.Code_CODE_OK},
	{Refused, linkmeshv1.Code_CODE_REFUSED},
	{Timeout, linkmeshv1.Code_CODE_TIMEOUT},
	{Unreachable, linkmeshv1.Code_CODE_UNREACHABLE},
	{DNS, linkmeshv1.Code_CODE_DNS},
	{Reset, linkmeshv1.Code_CODE_RESET},
	{Mismatch, linkmeshv1.Code_CODE_MISMATCH},
	{Error, linkmeshv1.Code_CODE_ERROR},
}

// Proto is c on the wire; a Code that is not Valid is CODE_ERROR.
func (c Code) Proto() linkmeshv1.Code {
	for _, e := range codes {
		if e.c == c {
			return e.p
		}
	}
	return linkmeshv1.Code_CODE_ERROR
}

// CodeOf is the Code of a wire code; CODE_UNSPECIFIED or a value this build
// does not know is Error (never OK).
func CodeOf(p linkmeshv1.Code) Code {
	for _, e := range codes {
		if e.p == p {
			return e.c
		}
	}
	return Error
}

// sources pairs each RTTSource with the wire format's.
var sources = [...]struct {
	s RTTSource
	p linkmeshv1.RTTSource
}{
	{RTTNone, linkmeshv1.RTTSource_RTT_SOURCE_UNSPECIFIED},
	{RTTKernel, linkmeshv1.RTTSource_RTT_SOURCE_KERNEL},
	{RTTConnect, linkmeshv1.RTTSource_RTT_SOURCE_CONNECT},
	{RTTApplication, linkmeshv1.RTTSource_RTT_SOURCE_APPLICATION},
	{RTTLookup, linkmeshv1.RTTSource_RTT_SOURCE_LOOKUP},
}

// Proto is s on the wire; an unknown source is RTT_SOURCE_UNSPECIFIED.
func (s RTTSource) Proto() linkmeshv1.RTTSource {
	for _, e := range sources {
		if e.s == s {
			return e.p
		}
	}
	return linkmeshv1.RTTSource_RTT_SOURCE_UNSPECIFIED
}

// RTTSourceOf is the RTTSource of a wire source (RTTNone when unknown).
func RTTSourceOf(p linkmeshv1.RTTSource) RTTSource {
	for _, e := range sources {
		if e.p == p {
			return e.s
		}
	}
	return RTTNone
}

// ToProto turns an attempt's result into the API's Result for target t (without a
// sequence number; the reporter assigns it).
func ToProto(t *linkmeshv1.Target, start time.Time, r Result) *linkmeshv1.Result {
	out := &linkmeshv1.Result{
		Time:                    timestamppb.New(start),
		TargetId:                t.GetId(),
		Kind:                    t.GetKind(),
		Target:                  t.GetName(),
		TargetSite:              t.GetSite(),
		Host:                    t.GetHost(),
		Port:                    t.GetPort(),
		Code:                    r.Code.Proto(),
		RttSource:               r.RTTSource.Proto(),
		SynRetransmits:          r.SYNRetransmits,
		PortEnd:                 t.GetPortEnd(),
		RefusedIsReach:          t.GetRefusedIsReach(),
		Detail:                  Truncate(strings.ToValidUTF8(r.Detail, "\uFFFD"), 500),
		LossRatio:               min(max(r.LossRatio, 0), 1),
		MtuBytes:                uint32(min(max(r.MTU, 0), 65535)),
		MtuBlackhole:            r.MTUBlackhole && r.MTU > 0,
		ThroughputBitsPerSecond: max(r.Throughput, 0),
		Round:                   t.GetRound(),
		Exchanges:               r.Exchanges,
		ExchangesLost:           min(r.ExchangesLost, r.Exchanges),
	}
	if r.RTTSource != RTTNone {
		out.Rtt = durationpb.New(r.RTT)
	}
	if r.Jitter > 0 {
		out.Jitter = durationpb.New(r.Jitter)
	}
	if n := len(r.Addresses); n > 0 {
		out.Addresses = append([]string(nil), r.Addresses[:min(n, 64)]...)
	}
	return out
}

// FromProto is the attempt's Result a wire Result carries (the inverse of
// ToProto for the attempt's own fields; the target's are not part of it).
func FromProto(r *linkmeshv1.Result) Result {
	out := Result{
		Code:           CodeOf(r.GetCode()),
		RTTSource:      RTTSourceOf(r.GetRttSource()),
		SYNRetransmits: r.GetSynRetransmits(),
		Detail:         r.GetDetail(),
		Exchanges:      r.GetExchanges(),
		ExchangesLost:  r.GetExchangesLost(),
		LossRatio:      r.GetLossRatio(),
		MTU:            int(r.GetMtuBytes()),
		MTUBlackhole:   r.GetMtuBlackhole(),
		Throughput:     r.GetThroughputBitsPerSecond(),
	}
	if r.GetRtt() != nil {
		out.RTT = r.GetRtt().AsDuration()
	}
	if r.GetJitter() != nil {
		out.Jitter = r.GetJitter().AsDuration()
	}
	if n := len(r.GetAddresses()); n > 0 {
		out.Addresses = append([]string(nil), r.GetAddresses()...)
	}
	return out
}

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
