package coordinator

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Bounds and defaults of a RunCheckRequest, and how its targets are made.
const (
	defaultCheckPort     = 5022
	defaultCheckAttempts = 3
	maxCheckAttempts     = 10
	defaultCheckTimeout  = 5 * time.Second
	minCheckTimeout      = 100 * time.Millisecond
	maxCheckTimeout      = time.Minute
	maxCheckBurst        = 1 << 30
	// checkInterval is the pause between a round target's attempts.
	checkInterval = 200 * time.Millisecond
	// checkBurstTime caps the burst of echo_to_peer; its attempts' timeout
	// grows by as much so the burst fits.
	checkBurstTime = 5 * time.Second
)

// checkSpec is a validated RunCheckRequest with its defaults filled in.
type checkSpec struct {
	probe, peer *linkmeshv1.ProbeInfo
	host        string // SQL Server's host as the peer reaches it
	port        uint32
	standIn     bool
	attempts    uint32
	timeout     time.Duration
	burst       uint64
}

// checkSpec validates req: its fields (InvalidArgument), then what this
// coordinator knows of the probes (FailedPrecondition); each message names
// the field or the probe at fault.
//
// bounds pin the round: its SQL port is one of bounds.SQLPorts, its burst at
// most bounds.MaxBurstBytes, and its SQL host one of the probe's own
// addresses (sqlHostAllowed) — a round never tests a host the probe is not on.
func (s *Server) checkSpec(req *linkmeshv1.RunCheckRequest, bounds config.CheckRounds) (checkSpec, error) {
	invalid := func(format string, args ...any) error { return status.Errorf(codes.InvalidArgument, format, args...) }
	c := checkSpec{port: defaultCheckPort, standIn: req.GetStandIn(), attempts: defaultCheckAttempts, timeout: defaultCheckTimeout, burst: req.GetBurstBytes()}
	switch {
	case req.GetProbe() == "":
		return c, invalid("probe: required (the probe on the SQL Server host)")
	case !pathstate.ValidName(req.GetProbe()):
		return c, invalid("probe %q: not a probe name", req.GetProbe())
	case req.GetPeer() != "" && !pathstate.ValidName(req.GetPeer()):
		return c, invalid("peer %q: not a probe name", req.GetPeer())
	case req.GetSqlPort() > 65535:
		return c, invalid("sql_port %d: not a TCP port (1-65535)", req.GetSqlPort())
	case req.GetAttempts() > maxCheckAttempts:
		return c, invalid("attempts %d: at most %d", req.GetAttempts(), maxCheckAttempts)
	case req.GetBurstBytes() > maxCheckBurst:
		return c, invalid("burst_bytes %d: at most 1 GiB (%d)", req.GetBurstBytes(), maxCheckBurst)
	case req.GetBurstBytes() > bounds.MaxBurstBytes:
		return c, invalid("burst_bytes %d: at most %d (the coordinator's check_rounds.max_burst_bytes)", req.GetBurstBytes(), bounds.MaxBurstBytes)
	case req.GetSqlHost() != "" && !validHost(req.GetSqlHost()):
		return c, invalid("sql_host %q: not an IP address or DNS name", req.GetSqlHost())
	}
	if p := req.GetSqlPort(); p != 0 {
		c.port = p
	}
	if !bounds.AllowsPort(c.port) {
		return c, invalid("sql_port %d: not one of the coordinator's check_rounds.sql_ports %v", c.port, bounds.SQLPorts)
	}
	if a := req.GetAttempts(); a != 0 {
		c.attempts = a
	}
	if d := req.GetTimeout(); d != nil {
		switch t := d.AsDuration(); {
		case d.CheckValid() != nil || t < 0:
			return c, invalid("timeout: not a valid duration")
		case t > maxCheckTimeout:
			return c, invalid("timeout %v: at most %v", t, maxCheckTimeout)
		case t > 0 && t < minCheckTimeout:
			return c, invalid("timeout %v: at least %v", t, minCheckTimeout)
		case t > 0:
			c.timeout = t
		}
	}

	probe, ok := s.store.Lookup(req.GetProbe())
	if !ok {
		return c, invalid("probe %q: no probe of that name has registered with this coordinator", req.GetProbe())
	}
	if err := s.connected("probe", probe); err != nil {
		return c, err
	}
	c.probe = probe.Info
	if req.GetPeer() != "" {
		peer, ok := s.store.Lookup(req.GetPeer())
		switch {
		case !ok:
			return c, invalid("peer %q: no probe of that name has registered with this coordinator", req.GetPeer())
		case req.GetPeer() == req.GetProbe():
			return c, invalid("peer %q: the same probe as probe; give the probe in the MI's virtual network", req.GetPeer())
		case peer.Info.GetSite() == probe.Info.GetSite():
			return c, invalid("peer %q: of site %q like probe %q; give a probe of another site (in the MI's virtual network)", req.GetPeer(), peer.Info.GetSite(), req.GetProbe())
		}
		if err := s.connected("peer", peer); err != nil {
			return c, err
		}
		c.peer = peer.Info
	} else {
		var names []string
		for _, p := range s.store.Connected() {
			if p.GetSite() != probe.Info.GetSite() {
				c.peer = p
				names = append(names, p.GetName())
			}
		}
		switch len(names) {
		case 0:
			return c, status.Errorf(codes.FailedPrecondition, "no probe of another site is connected to this coordinator: start a probe in the MI's VNet (--site mi) with --coordinator %s", s.coordinatorHint())
		case 1:
		default:
			return c, status.Errorf(codes.FailedPrecondition, "several probes of other sites are connected to this coordinator: give --peer one of: %s", strings.Join(names, ", "))
		}
	}
	c.host = req.GetSqlHost()
	if c.host != "" && !s.sqlHostAllowed(c.probe, c.host, bounds) {
		s.gate.Refuse(admit.ReasonCheck, "check round refused: sql_host is not an address of the probe", "probe", c.probe.GetName(), "sql_host", c.host, "responder", c.probe.GetResponderAddress())
		return c, status.Errorf(codes.PermissionDenied, "sql_host %q: not an address of probe %s (%s): a round tests the SQL host through the probe on it; leave --sql-host out, give the address the probe registered, or list the name in the coordinator's check_rounds.sql_host_names",
			c.host, c.probe.GetName(), s.probeAddrs(c.probe))
	}
	if c.host == "" {
		host, _, err := net.SplitHostPort(c.probe.GetResponderAddress())
		if err != nil || host == "" {
			a, ok := s.gate.SeenAt(c.probe.GetName())
			if !ok {
				return c, status.Errorf(codes.FailedPrecondition, "sql_host: this coordinator knows no address of %s to take SQL Server's host from", c.probe.GetName())
			}
			host = a.String()
		}
		c.host = host
	}
	return c, nil
}

// connected refuses a probe without an open plan stream to this coordinator:
// a round reaches probes only through their plans.
func (s *Server) connected(field string, p pathstate.Probe) error {
	if p.Streams > 0 {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "%s %s is not connected to this coordinator (no open plan stream): start it with --coordinator %s, or run the check against a coordinator it reports to",
		field, p.Info.GetName(), s.coordinatorHint())
}

// coordinatorHint is this coordinator's gRPC address as probes should dial it,
// as well as it knows.
func (s *Server) coordinatorHint() string {
	if a := s.cfg.Load().Listen.AdvertiseGRPC; a != "" {
		return a
	}
	if s.gossip != nil {
		return s.advertisedGRPC()
	}
	if ap, err := netip.ParseAddrPort(s.GRPCAddr().String()); err == nil && !ap.Addr().IsUnspecified() {
		return ap.String()
	}
	return "<this coordinator's address>"
}

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
func (c checkSpec) targets(id string, serving bool) []*roundTarget {
	target := func(role string, source *linkmeshv1.ProbeInfo, kind linkmeshv1.Kind, host string, port uint32, to *linkmeshv1.ProbeInfo, timeout time.Duration) *roundTarget {
		return &roundTarget{role: role, source: source.GetName(), target: &linkmeshv1.Target{
			Id:       "check/" + id + "/" + role,
			Kind:     kind,
			Host:     host,
			Port:     port,
			Name:     to.GetName(),
			Site:     to.GetSite(),
			Interval: durationpb.New(checkInterval),
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
	out := []*roundTarget{target(roleP3, c.peer, p3Kind, c.host, c.port, c.probe, c.timeout)}
	if isName(c.host) {
		out = append(out, target(roleD2, c.peer, linkmeshv1.Kind_KIND_DNS, c.host, 0, c.probe, c.timeout))
	}
	if host, port, ok := responder(c.peer); ok {
		t := target(roleEchoToPeer, c.probe, linkmeshv1.Kind_KIND_ECHO, host, port, c.peer, c.timeout)
		t.target.Echo = &linkmeshv1.EchoOptions{MtuEvery: 1}
		if c.burst > 0 {
			// The echo kind bursts on attempts numbered 0, burst_every, …:
			// with burst_every = attempts, exactly once.
			t.target.Echo.BurstBytes, t.target.Echo.BurstEvery = c.burst, c.attempts
			t.target.Echo.BurstMaxTime = durationpb.New(checkBurstTime)
			t.target.Timeout = durationpb.New(c.timeout + checkBurstTime)
		}
		out = append(out, t)
	}
	if host, port, ok := responder(c.probe); ok {
		t := target(roleEchoFromPeer, c.peer, linkmeshv1.Kind_KIND_ECHO, host, port, c.probe, c.timeout)
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

// probeAddrs lists a probe's own addresses, for refusals.
func (s *Server) probeAddrs(p *linkmeshv1.ProbeInfo) string {
	var as []string
	if h, _, ok := responder(p); ok {
		as = append(as, "responder host "+h)
	}
	if a, ok := s.gate.SeenAt(p.GetName()); ok {
		as = append(as, "seen at "+a.String())
	}
	if len(as) == 0 {
		return "no address known"
	}
	return strings.Join(as, ", ")
}
