package pathstate

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Limits on what a probe may send; everything beyond is refused, so no probe can
// make the coordinator's state or its metric series grow without bound.
const (
	MaxBatch       = 1000
	MaxLabels      = 16
	maxDetail      = 512
	maxVersion     = 64
	maxRTT         = time.Hour
	maxAddressSize = 300
	maxAddressLen  = 64  // one resolved address (an IPv6 with zone fits)
	maxTargetID    = 256 // the plan's id of the target
	// MaxMemberRTTs bounds the gossip round trips one report may carry.
	MaxMemberRTTs = 256
	maxStandIns   = 16
	// maxExchanges bounds Result.exchanges: an echo attempt makes at most
	// about a hundred (its round trips and the handshake).
	maxExchanges = 1000
)

// The name checks below are the regular expressions in their comments, as
// byte-class tables: every result of every report passes three of them, and a
// regexp cost a third of validation (TestCharsetsMatchRegexps keeps them equal).

// labelValueRe bounds names that become Prometheus label values:
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$.
var labelValueRe = newCharset("A-Za-z0-9", "A-Za-z0-9._-", 63)

// memberRe accepts gossip member names, probe names and "coordinator:<name>":
// ^[A-Za-z0-9][A-Za-z0-9._:-]{0,75}$.
var memberRe = newCharset("A-Za-z0-9", "A-Za-z0-9._:-", 76)

// roundRe accepts check round ids (Result.round): ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$.
var roundRe = newCharset("A-Za-z0-9", "A-Za-z0-9._:-", 64)

// hostRe accepts host names and IP addresses (IPv6 without brackets) as
// target labels: ^[A-Za-z0-9_][A-Za-z0-9._:%-]{0,252}$.
var hostRe = newCharset("A-Za-z0-9_", "A-Za-z0-9._:%-", 253)

// charset matches strings of 1 to max bytes whose first byte is in first and
// every other byte in rest.
type charset struct {
	first, rest [256]bool
	max         int
}

// newCharset builds a charset from two character classes written as in a
// regexp bracket ("A-Za-z0-9._-": ranges and single characters; a '-' at the
// end is itself).
func newCharset(first, rest string, max int) *charset {
	c := &charset{max: max}
	fill := func(set *[256]bool, class string) {
		for i := 0; i < len(class); i++ {
			if i+2 < len(class) && class[i+1] == '-' {
				for b := int(class[i]); b <= int(class[i+2]); b++ {
					set[b] = true
				}
				i += 2
				continue
			}
			set[class[i]] = true
		}
	}
	fill(&c.first, first)
	fill(&c.rest, rest)
	return c
}

// MatchString reports whether s is in the set (the regexp's MatchString).
func (c *charset) MatchString(s string) bool {
	if len(s) == 0 || len(s) > c.max || !c.first[s[0]] {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !c.rest[s[i]] {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a valid probe name (the names ValidateProbe
// accepts), for callers that take a probe's name from elsewhere.
func ValidName(s string) bool { return labelValueRe.MatchString(s) }

// ValidateProbe checks a probe's self-description.
func ValidateProbe(p *linkmeshv1.ProbeInfo) error {
	if p == nil {
		return fmt.Errorf("probe: missing")
	}
	if !labelValueRe.MatchString(p.GetName()) {
		return fmt.Errorf("probe.name %q: use 1-63 letters, digits, '.', '_', '-'", p.GetName())
	}
	if !labelValueRe.MatchString(p.GetSite()) {
		return fmt.Errorf("probe.site %q: use 1-63 letters, digits, '.', '_', '-'", p.GetSite())
	}
	if len(p.GetLabels()) > MaxLabels {
		return fmt.Errorf("probe.labels: %d labels, at most %d", len(p.GetLabels()), MaxLabels)
	}
	for k, v := range p.GetLabels() {
		if !labelValueRe.MatchString(k) || !labelValueRe.MatchString(v) {
			return fmt.Errorf("probe.labels %q=%q: use 1-63 letters, digits, '.', '_', '-'", k, v)
		}
	}
	if len(p.GetVersion()) > maxVersion || !utf8.ValidString(p.GetVersion()) {
		return fmt.Errorf("probe.version: at most %d bytes of UTF-8", maxVersion)
	}
	if len(p.GetOs()) > maxVersion || !utf8.ValidString(p.GetOs()) {
		return fmt.Errorf("probe.os: at most %d bytes of UTF-8", maxVersion)
	}
	if a := p.GetResponderAddress(); a != "" {
		if err := checkHostPort(a); err != nil {
			return fmt.Errorf("probe.responder_address: %w", err)
		}
	}
	return nil
}

func checkHostPort(a string) error {
	if len(a) > maxAddressSize {
		return fmt.Errorf("longer than %d bytes", maxAddressSize)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	if host != "" && !hostRe.MatchString(host) {
		return fmt.Errorf("%q is not a host name or IP address", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", port)
	}
	return nil
}

// ValidateReport checks a batch before Ingest: its size, and every result's fields.
func ValidateReport(r *linkmeshv1.ReportRequest) error {
	if !labelValueRe.MatchString(r.GetProbe()) {
		return fmt.Errorf("probe %q: not a valid probe name", r.GetProbe())
	}
	if n := len(r.GetResults()); n > MaxBatch {
		return fmt.Errorf("results: %d in one batch, at most %d", n, MaxBatch)
	}
	// member_rtts are not checked here: FilterMemberRTTs drops bad entries,
	// never the report. Nor are the results: Ingest drops an invalid result
	// (see ValidateResult), never the rest of the batch.
	if n := len(r.GetStandIns()); n > maxStandIns {
		return fmt.Errorf("stand_ins: %d, at most %d", n, maxStandIns)
	}
	for i, st := range r.GetStandIns() {
		if st.GetPort() < 1 || st.GetPort() > 65535 {
			return fmt.Errorf("stand_ins[%d].port %d: not 1-65535", i, st.GetPort())
		}
		if s := st.GetState(); s <= linkmeshv1.StandInState_STAND_IN_STATE_UNSPECIFIED || s > linkmeshv1.StandInState_STAND_IN_STATE_ENDED {
			return fmt.Errorf("stand_ins[%d].state: %d is not a known state", i, int32(s))
		}
		if len(st.GetDetail()) > maxDetail || !utf8.ValidString(st.GetDetail()) {
			return fmt.Errorf("stand_ins[%d].detail: at most %d bytes of UTF-8", i, maxDetail)
		}
	}
	return nil
}

// ValidateResult checks one result's fields. An invalid result is dropped by
// Ingest, never its batch; reason (the field at fault) is its label in
// linkmesh_coordinator_results_rejected_total.
func ValidateResult(r *linkmeshv1.Result) (reason string, err error) {
	if r.GetSeq() == 0 {
		return ReasonSeq, fmt.Errorf("seq: must start at 1")
	}
	if c := r.GetCode(); !vocab.ValidCode(c) {
		return ReasonCode, fmt.Errorf("code: %d is not a known result code", int32(c))
	}
	if k := r.GetKind(); k <= linkmeshv1.Kind_KIND_UNSPECIFIED || k > linkmeshv1.Kind_KIND_DNS {
		return ReasonKind, fmt.Errorf("kind: %d is not a known kind", int32(k))
	}
	if !hostRe.MatchString(r.GetTarget()) || len(r.GetTarget()) > 253 {
		return ReasonTarget, fmt.Errorf("target %q: not a valid target name", r.GetTarget())
	}
	if !labelValueRe.MatchString(r.GetTargetSite()) {
		return ReasonTargetSite, fmt.Errorf("target_site %q: not a valid site name", r.GetTargetSite())
	}
	if r.GetHost() != "" && !hostRe.MatchString(r.GetHost()) {
		return ReasonHost, fmt.Errorf("host %q: not a host name or IP address", r.GetHost())
	}
	if r.GetPort() > 65535 || r.GetPortEnd() > 65535 || r.GetProbedPort() > 65535 {
		return ReasonPort, fmt.Errorf("port %d-%d (probed %d): above 65535", r.GetPort(), r.GetPortEnd(), r.GetProbedPort())
	}
	if r.GetPortEnd() != 0 && r.GetPortEnd() <= r.GetPort() {
		return ReasonPortEnd, fmt.Errorf("port_end %d: not above port %d", r.GetPortEnd(), r.GetPort())
	}
	if r.GetTime() == nil || r.GetTime().CheckValid() != nil {
		return ReasonTime, fmt.Errorf("time: missing or invalid")
	}
	for _, f := range []struct {
		name string
		d    *durationpb.Duration
	}{{"rtt", r.GetRtt()}, {"jitter", r.GetJitter()}} {
		if f.d == nil {
			continue
		}
		if f.d.CheckValid() != nil || f.d.AsDuration() < 0 || f.d.AsDuration() > maxRTT {
			return f.name, fmt.Errorf("%s: must be between 0 and %v", f.name, maxRTT)
		}
	}
	if len(r.GetDetail()) > maxDetail || !utf8.ValidString(r.GetDetail()) {
		return ReasonDetail, fmt.Errorf("detail: at most %d bytes of UTF-8", maxDetail)
	}
	if lr := r.GetLossRatio(); lr < 0 || lr > 1 || lr != lr {
		return ReasonLossRatio, fmt.Errorf("loss_ratio: must be within [0, 1]")
	}
	if n := r.GetExchanges(); n > maxExchanges {
		return ReasonExchanges, fmt.Errorf("exchanges: %d, at most %d", n, maxExchanges)
	}
	if r.GetExchangesLost() > r.GetExchanges() {
		return ReasonExchangesLost, fmt.Errorf("exchanges_lost: %d, more than exchanges (%d)", r.GetExchangesLost(), r.GetExchanges())
	}
	if tp := r.GetThroughputBitsPerSecond(); tp < 0 || tp != tp || tp > 1e12 {
		return ReasonThroughput, fmt.Errorf("throughput_bits_per_second: out of range")
	}
	if len(r.GetAddresses()) > 64 {
		return ReasonAddresses, fmt.Errorf("addresses: at most 64")
	}
	for i, a := range r.GetAddresses() {
		if len(a) > maxAddressLen || !utf8.ValidString(a) {
			return ReasonAddresses, fmt.Errorf("addresses[%d]: at most %d bytes of UTF-8", i, maxAddressLen)
		}
		if _, err := netip.ParseAddr(a); err != nil {
			return ReasonAddresses, fmt.Errorf("addresses[%d]: %q is not an IP address", i, a)
		}
	}
	if r.GetRound() != "" && !roundRe.MatchString(r.GetRound()) {
		return ReasonRound, fmt.Errorf("round %q: use 1-64 letters, digits, '.', '_', ':', '-'", r.GetRound())
	}
	if len(r.GetTargetId()) > maxTargetID || !utf8.ValidString(r.GetTargetId()) {
		return ReasonTargetID, fmt.Errorf("target_id: at most %d bytes of UTF-8", maxTargetID)
	}
	if m := r.GetMtuBytes(); m > 65535 || (m > 0 && m < 68) {
		return ReasonMTUBytes, fmt.Errorf("mtu_bytes: %d is not an IP packet size (68 to 65535)", m)
	}
	if r.GetMtuBlackhole() && r.GetMtuBytes() == 0 {
		return ReasonMTUBlackhole, fmt.Errorf("mtu_blackhole: set without mtu_bytes")
	}
	return "", nil
}

// Reasons an invalid result is dropped for (ValidateResult): the field at
// fault, as named in the protocol.
const (
	ReasonSeq           = "seq"
	ReasonCode          = "code"
	ReasonKind          = "kind"
	ReasonTarget        = "target"
	ReasonTargetSite    = "target_site"
	ReasonHost          = "host"
	ReasonPort          = "port"
	ReasonPortEnd       = "port_end"
	ReasonTime          = "time"
	ReasonRTT           = "rtt"
	ReasonJitter        = "jitter"
	ReasonDetail        = "detail"
	ReasonLossRatio     = "loss_ratio"
	ReasonExchanges     = "exchanges"
	ReasonExchangesLost = "exchanges_lost"
	ReasonThroughput    = "throughput_bits_per_second"
	ReasonAddresses     = "addresses"
	ReasonRound         = "round"
	ReasonTargetID      = "target_id"
	ReasonMTUBytes      = "mtu_bytes"
	ReasonMTUBlackhole  = "mtu_blackhole"
)

// ResultReasons lists every reason ValidateResult gives, for callers that
// create their metric series up front.
var ResultReasons = []string{ReasonSeq, ReasonCode, ReasonKind, ReasonTarget, ReasonTargetSite, ReasonHost,
	ReasonPort, ReasonPortEnd, ReasonTime, ReasonRTT, ReasonJitter, ReasonDetail, ReasonLossRatio,
	ReasonExchanges, ReasonExchangesLost, ReasonThroughput, ReasonAddresses, ReasonRound, ReasonTargetID,
	ReasonMTUBytes, ReasonMTUBlackhole}
