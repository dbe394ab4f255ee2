package round

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/admit"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bounds and defaults of a RunCheckRequest, and how its targets are made.
const (
	defaultPort     = 5022
	defaultAttempts = 3
	maxAttempts     = 10
	defaultTimeout  = 5 * time.Second
	minTimeout      = 100 * time.Millisecond
	maxTimeout      = time.Minute
	maxBurst        = 1 << 30
	// interval is the pause between a round target's attempts.
	interval = 200 * time.Millisecond
	// burstTime caps the burst of echo_to_peer; its attempts' timeout
	// grows by as much so the burst fits.
	burstTime = 5 * time.Second
)

// spec is a validated RunCheckRequest with its defaults filled in.
type spec struct {
	probe, peer *linkmeshv1.ProbeInfo
	host        string // SQL Server's host as the peer reaches it
	port        uint32
	standIn     bool
	attempts    uint32
	timeout     time.Duration
	burst       uint64
}

// validate checks req: its fields (InvalidArgument), then what this
// coordinator knows of the probes (FailedPrecondition); each message names
// the field or the probe at fault.
//
// bounds pin the round: its SQL port is one of bounds.SQLPorts, its burst at
// most bounds.MaxBurstBytes, and its SQL host one of the probe's own
// addresses (sqlHostAllowed) — a round never tests a host the probe is not on.
func (r *Runner) validate(req *linkmeshv1.RunCheckRequest, bounds config.CheckRounds) (spec, error) {
	c, err := fields(req, bounds)
	if err != nil {
		return c, err
	}
	probe, ok := r.cfg.Probes.Lookup(req.GetProbe())
	if !ok {
		return c, status.Errorf(codes.InvalidArgument, "probe %q: no probe of that name has registered with this coordinator", req.GetProbe())
	}
	if err := r.connected("probe", probe); err != nil {
		return c, err
	}
	c.probe = probe.Info
	if c.peer, err = r.peer(req, probe); err != nil {
		return c, err
	}
	if c.host, err = r.sqlHost(req, c.probe, bounds); err != nil {
		return c, err
	}
	return c, nil
}

// fields checks the request's own fields (InvalidArgument) and fills in the
// defaults.
func fields(req *linkmeshv1.RunCheckRequest, bounds config.CheckRounds) (spec, error) {
	invalid := func(format string, args ...any) error { return status.Errorf(codes.InvalidArgument, format, args...) }
	c := spec{port: defaultPort, standIn: req.GetStandIn(), attempts: defaultAttempts, timeout: defaultTimeout, burst: req.GetBurstBytes()}
	switch {
	case req.GetProbe() == "":
		return c, invalid("probe: required (the probe on the SQL Server host)")
	case !pathstate.ValidName(req.GetProbe()):
		return c, invalid("probe %q: not a probe name", req.GetProbe())
	case req.GetPeer() != "" && !pathstate.ValidName(req.GetPeer()):
		return c, invalid("peer %q: not a probe name", req.GetPeer())
	case req.GetSqlPort() > 65535:
		return c, invalid("sql_port %d: not a TCP port (1-65535)", req.GetSqlPort())
	case req.GetAttempts() > maxAttempts:
		return c, invalid("attempts %d: at most %d", req.GetAttempts(), maxAttempts)
	case req.GetBurstBytes() > maxBurst:
		return c, invalid("burst_bytes %d: at most 1 GiB (%d)", req.GetBurstBytes(), maxBurst)
	case req.GetBurstBytes() > bounds.MaxBurstBytes:
		return c, invalid("burst_bytes %d: at most %d (the coordinator's check_rounds.max_burst_bytes)", req.GetBurstBytes(), bounds.MaxBurstBytes)
	case req.GetSqlHost() != "" && !validHost(req.GetSqlHost()):
		return c, invalid("sql_host %q: not an IP address or DNS name", req.GetSqlHost())
	}
	if p := req.GetSqlPort(); p != 0 {
		c.port = p
	}
	if !bounds.AllowsPort(c.port) {
		ports := make([]string, len(bounds.SQLPorts))
		for i, p := range bounds.SQLPorts {
			ports[i] = strconv.FormatUint(uint64(p), 10)
		}
		return c, invalid("sql_port %d: not one of the coordinator's check_rounds.sql_ports (%s)", c.port, strings.Join(ports, ", "))
	}
	if a := req.GetAttempts(); a != 0 {
		c.attempts = a
	}
	if d := req.GetTimeout(); d != nil {
		switch t := d.AsDuration(); {
		case d.CheckValid() != nil || t < 0:
			return c, invalid("timeout: not a valid duration")
		case t > maxTimeout:
			return c, invalid("timeout %v: at most %v", t, maxTimeout)
		case t > 0 && t < minTimeout:
			return c, invalid("timeout %v: at least %v", t, minTimeout)
		case t > 0:
			c.timeout = t
		}
	}
	return c, nil
}

// peer is the round's probe of another site: req's peer, or the only one
// connected.
func (r *Runner) peer(req *linkmeshv1.RunCheckRequest, probe pathstate.Probe) (*linkmeshv1.ProbeInfo, error) {
	invalid := func(format string, args ...any) error { return status.Errorf(codes.InvalidArgument, format, args...) }
	if req.GetPeer() != "" {
		peer, ok := r.cfg.Probes.Lookup(req.GetPeer())
		switch {
		case !ok:
			return nil, invalid("peer %q: no probe of that name has registered with this coordinator", req.GetPeer())
		case req.GetPeer() == req.GetProbe():
			return nil, invalid("peer %q: the same probe as probe; give the probe in the MI's virtual network", req.GetPeer())
		case peer.Info.GetSite() == probe.Info.GetSite():
			return nil, invalid("peer %q: of site %q like probe %q; give a probe of another site (in the MI's virtual network)", req.GetPeer(), peer.Info.GetSite(), req.GetProbe())
		}
		if err := r.connected("peer", peer); err != nil {
			return nil, err
		}
		return peer.Info, nil
	}
	var found *linkmeshv1.ProbeInfo
	var names []string
	for _, p := range r.cfg.Probes.Connected() {
		if p.GetSite() != probe.Info.GetSite() {
			found = p
			names = append(names, p.GetName())
		}
	}
	switch len(names) {
	case 0:
		return nil, status.Errorf(codes.FailedPrecondition, "no probe of another site is connected to this coordinator: start a probe in the MI's VNet (--site mi) with --coordinator %s", r.cfg.Hint())
	case 1:
		return found, nil
	}
	return nil, status.Errorf(codes.FailedPrecondition, "several probes of other sites are connected to this coordinator: give --peer one of: %s", strings.Join(names, ", "))
}

// sqlHost is SQL Server's host as the peer reaches it: req's, which must be
// one of the probe's own addresses, else the probe's.
func (r *Runner) sqlHost(req *linkmeshv1.RunCheckRequest, probe *linkmeshv1.ProbeInfo, bounds config.CheckRounds) (string, error) {
	if host := req.GetSqlHost(); host != "" {
		if !r.sqlHostAllowed(probe, host, bounds) {
			r.cfg.Gate.Refuse(admit.ReasonCheck, "check round refused: sql_host is not an address of the probe", "probe", probe.GetName(), "sql_host", host, "responder", probe.GetResponderAddress())
			return "", status.Errorf(codes.PermissionDenied, "sql_host %q: not an address of probe %s (%s): a round tests the SQL host through the probe on it; leave --sql-host out, give the address the probe registered, or list the name in the coordinator's check_rounds.sql_host_names",
				host, probe.GetName(), r.probeAddrs(probe))
		}
		return host, nil
	}
	if host, _, err := net.SplitHostPort(probe.GetResponderAddress()); err == nil && host != "" {
		return host, nil
	}
	a, ok := r.cfg.Gate.SeenAt(probe.GetName())
	if !ok {
		return "", status.Errorf(codes.FailedPrecondition, "sql_host: this coordinator knows no address of %s to take SQL Server's host from", probe.GetName())
	}
	return a.String(), nil
}

// connected refuses a probe without an open plan stream to this coordinator:
// a round reaches probes only through their plans.
func (r *Runner) connected(field string, p pathstate.Probe) error {
	if p.Streams > 0 {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "%s %s is not connected to this coordinator (no open plan stream): start it with --coordinator %s, or run the check against a coordinator it reports to",
		field, p.Info.GetName(), r.cfg.Hint())
}
