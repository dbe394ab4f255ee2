package coordinator

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// reasonResponder is the requests_rejected_total reason of a registration
// refused for its responder address.
const reasonResponder = "responder_address"

// checkResponder refuses a registration whose responder host (after fillHost)
// is neither the address the coordinator sees the probe connect from nor in
// the config's responder_cidrs: else one probe certificate could send the
// other probes' echo attempts, bursts included, to any host and port. A host
// name is refused: the coordinator cannot tell where it leads when the probes
// resolve it (DNS can answer them differently), so a probe advertises an IP.
func (v *service) checkResponder(ctx context.Context, info *linkmeshv1.ProbeInfo) error {
	addr := info.GetResponderAddress()
	if addr == "" {
		return nil // no responder
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // ValidateProbe refused it already
	}
	var from netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			from = ap.Addr()
		}
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		v.refuseResponder(info, from)
		return status.Errorf(codes.InvalidArgument,
			"register: probe.responder_address %q: a host name is not accepted (the coordinator cannot check where it leads); advertise an IP address with --advertise, one the coordinator sees this probe connect from (%s) or inside the coordinator's responder_cidrs",
			addr, from)
	case v.s.cfg.Load().ResponderAllowed(ip, from):
		return nil
	}
	v.refuseResponder(info, from)
	return status.Errorf(codes.PermissionDenied,
		"register: probe.responder_address %q: the host is neither the address this probe connects from (%s) nor in the coordinator's responder_cidrs; fix the probe's --advertise, or (behind NAT, or with several interfaces) add the responder's network to responder_cidrs in the coordinator's config",
		addr, from)
}

// responderLog is a rateLog for refused responder addresses (a probe retries
// its registration, and a hostile one may call it as often as admission allows).
type responderLog struct {
	mu  sync.Mutex
	log rateLog
}

// refuseResponder counts a refused responder address and logs it, at most
// once per ingestLogEvery.
func (v *service) refuseResponder(info *linkmeshv1.ProbeInfo, from netip.Addr) {
	v.s.rejected.WithLabelValues(reasonResponder).Inc()
	v.responderLog.mu.Lock()
	n, due := v.responderLog.log.due(time.Now(), 1)
	v.responderLog.mu.Unlock()
	if due {
		v.s.logger.Warn("registration refused: the responder address is neither the address the probe connects from nor in responder_cidrs (logged at most once a minute)",
			"probe", info.GetName(), "responder", info.GetResponderAddress(), "from", from.String(), "refusals", n)
	}
}
