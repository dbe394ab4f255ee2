package admit

import (
	"context"
	"net/netip"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// More reasons a Gate (or the coordinator, through Refuse) refuses something.
const (
	// ReasonSite: a probe registers with another site than its certificate's.
	ReasonSite = "site"
	// ReasonRole: a certificate whose role may not make the call (a probe
	// certificate running a check round it is not allowed to).
	ReasonRole = "role"
	// ReasonCheck: a check round refused by its bounds (rate, SQL host, port,
	// burst).
	ReasonCheck = "check_round"
)

// Caller is who called RunCheck, for the coordinator to decide and log.
type Caller struct {
	// Secured is false on an --insecure server: no certificate, no identity.
	Secured bool
	// Identity is what the caller's certificate vouches for (Secured only).
	Identity tlsconf.Identity
	// Addr is the caller's address as the coordinator sees it.
	Addr string
}

// String names the caller in logs and in the per-caller metric:
// "operator/alice", "probe/sql01", or "unauthenticated".
func (c Caller) String() string {
	if !c.Secured {
		return "unauthenticated"
	}
	return c.Identity.String()
}

type callerKey struct{}

// CallerFrom returns the Caller the Gate put into a RunCheck stream's context.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// authorizeCheck identifies the caller of RunCheck and returns ctx with its
// Caller. Whether that caller may run the round (an operator, or a probe the
// config allows) is the coordinator's decision: its config says which probes.
func (g *Gate) authorizeCheck(ctx context.Context, method string) (context.Context, error) {
	c := Caller{Addr: remote(ctx)}
	if g.secure {
		id, secured, err := tlsconf.PeerIdentity(ctx)
		if !secured || err != nil {
			g.Refuse(ReasonNotProbe, "check round refused: no operator or probe certificate", "method", method, "remote", c.Addr, "error", errString(err))
			return ctx, status.Error(codes.Unauthenticated, "an operator certificate is required (linkmesh certs operator --name NAME)")
		}
		c.Secured, c.Identity = true, id
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkSite refuses a probe registering with another site than its
// certificate's. A certificate without a site (issued before sites were
// recorded) is accepted: seen logs a warning once per probe.
func (g *Gate) checkSite(ctx context.Context, name, certSite, site string) error {
	if certSite == "" || certSite == site {
		return nil
	}
	g.Refuse(ReasonSite, "registration refused: the probe claims another site than its certificate records",
		"probe", name, "certificate_site", certSite, "claimed_site", site, "remote", remote(ctx))
	return status.Errorf(codes.PermissionDenied, "probe %q registers as site %q, but its certificate is for site %q: start it with --site %s, or issue it a certificate for its site (linkmesh certs probe --name %s --site SITE)",
		name, site, certSite, certSite, name)
}

// seen records the address a probe's call came from (the round's SQL host may
// be it, see SeenAt) and warns, once per probe, of a certificate without a
// site.
func (g *Gate) seen(ctx context.Context, l *limiter, name, certSite string, req any) {
	var addr netip.Addr
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if ap, err := netip.ParseAddrPort(p.Addr.String()); err == nil {
			addr = ap.Addr().Unmap()
		}
	}
	_, register := req.(*linkmeshv1.RegisterRequest)
	g.mu.Lock()
	if addr.IsValid() {
		l.addr = addr
	}
	warn := g.secure && register && certSite == "" && !l.warnedNoSite
	if warn {
		l.warnedNoSite = true
	}
	g.mu.Unlock()
	if warn {
		g.logger.Warn("probe certificate records no site: the coordinator takes the probe's --site on its word; issue it a new certificate with linkmesh certs probe --name NAME --site SITE",
			"probe", name, "remote", remote(ctx))
	}
}

// SeenAt returns the address the coordinator last saw a call of probe from.
func (g *Gate) SeenAt(probe string) (netip.Addr, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.probes[probe]
	if !ok || !l.addr.IsValid() {
		return netip.Addr{}, false
	}
	return l.addr, true
}
