package round

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"google.golang.org/protobuf/types/known/durationpb"
)

// validHost reports whether h is an IP address or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isName reports whether host is a name (not an IP address): then the peer
// resolves it (D2).
func isName(host string) bool {
	_, err := netip.ParseAddr(host)
	return err != nil
}

// targets returns the round's targets in CheckRound order. P3 is echo when
// the probe serves a stand-in on the port, else tcp. Echo targets to a probe
// without a responder address are left out.
func (c spec) targets(id string, serving bool) []*roundTarget {
	target := func(role string, source *linkmeshv1.ProbeInfo, kind linkmeshv1.Kind, host string, port uint32, to *linkmeshv1.ProbeInfo, timeout time.Duration) *roundTarget {
		return &roundTarget{role: role, source: source.GetName(), target: &linkmeshv1.Target{
			Id:       "check/" + id + "/" + role,
			Kind:     kind,
			Host:     host,
			Port:     port,
			Name:     to.GetName(),
			Site:     to.GetSite(),
			Interval: durationpb.New(interval),
			Timeout:  durationpb.New(timeout),
			Rule:     "check",
			Round:    id,
			Attempts: c.attempts,
		}}
	}
	p3Kind := linkmeshv1.Kind_KIND_TCP
	if serving {
		p3Kind = linkmeshv1.Kind_KIND_ECHO
	}
	out := []*roundTarget{target(vocab.RoleP3, c.peer, p3Kind, c.host, c.port, c.probe, c.timeout)}
	if isName(c.host) {
		out = append(out, target(vocab.RoleD2, c.peer, linkmeshv1.Kind_KIND_DNS, c.host, 0, c.probe, c.timeout))
	}
	if host, port, ok := responder(c.peer); ok {
		t := target(vocab.RoleEchoToPeer, c.probe, linkmeshv1.Kind_KIND_ECHO, host, port, c.peer, c.timeout)
		t.target.Echo = &linkmeshv1.EchoOptions{MtuEvery: 1}
		if c.burst > 0 {
			// The echo kind bursts on attempts numbered 0, burst_every, …:
			// with burst_every = attempts, exactly once.
			t.target.Echo.BurstBytes, t.target.Echo.BurstEvery = c.burst, c.attempts
			t.target.Echo.BurstMaxTime = durationpb.New(burstTime)
			t.target.Timeout = durationpb.New(c.timeout + burstTime)
		}
		out = append(out, t)
	}
	if host, port, ok := responder(c.probe); ok {
		t := target(vocab.RoleEchoFromPeer, c.peer, linkmeshv1.Kind_KIND_ECHO, host, port, c.probe, c.timeout)
		t.target.Echo = &linkmeshv1.EchoOptions{MtuEvery: 1}
		out = append(out, t)
	}
	return out
}

// responder splits a probe's responder address.
func responder(p *linkmeshv1.ProbeInfo) (host string, port uint32, ok bool) {
	h, ps, err := net.SplitHostPort(p.GetResponderAddress())
	n, perr := strconv.ParseUint(ps, 10, 16)
	if err != nil || perr != nil || h == "" || n == 0 {
		return "", 0, false
	}
	return h, uint32(n), true
}

// describe says what a target measures, for progress lines.
func (t *roundTarget) describe() string {
	if t.target.GetKind() == linkmeshv1.Kind_KIND_DNS {
		return fmt.Sprintf("%s resolves %s", t.source, t.target.GetHost())
	}
	return fmt.Sprintf("%s → %s", t.source, net.JoinHostPort(t.target.GetHost(), strconv.Itoa(int(t.target.GetPort()))))
}

// roundTime is how long the round's attempts take at most: the slowest
// target's attempts × (timeout + interval).
func roundTime(targets []*roundTarget) time.Duration {
	var d time.Duration
	for _, t := range targets {
		d = max(d, time.Duration(t.target.GetAttempts())*(t.target.GetTimeout().AsDuration()+t.target.GetInterval().AsDuration()))
	}
	return d
}
