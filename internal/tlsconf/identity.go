package tlsconf

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// A certificate's role and name live in a URI SAN (and, for people reading the
// certificate, the name in its Common Name):
//
//	linkmesh:probe:<name>?site=<site>   a probe, bound to its site
//	linkmesh:probe:<name>               a probe certificate from before sites
//	linkmesh:operator:<name>            a person or tool that runs check rounds
//	linkmesh:coordinator:<name>         a coordinator
//
// The coordinator reads the URI SAN; a certificate without any linkmesh: URI
// falls back to its Common Name as a probe name (no site), so a certificate
// from an existing PKI works when its CN is the probe's name.
const (
	uriScheme         = "linkmesh"
	probePrefix       = "probe:"
	operatorPrefix    = "operator:"
	coordinatorPrefix = "coordinator:"
	siteParam         = "site"
)

// The roles a client certificate can carry.
const (
	RoleProbe    = "probe"
	RoleOperator = "operator"
)

// Identity is what a verified client certificate vouches for.
type Identity struct {
	// Role is RoleProbe or RoleOperator.
	Role string
	// Name is the probe's or the operator's name.
	Name string
	// Site is a probe's site; empty for an operator, and for a probe
	// certificate issued before sites were recorded.
	Site string
}

// String is the identity as logs and metrics name it: "probe/sql01",
// "operator/alice".
func (id Identity) String() string { return id.Role + "/" + id.Name }

// ProbeURI is the URI SAN that names a probe without a site (as certificates
// issued before sites were recorded did).
func ProbeURI(name string) *url.URL { return ProbeSiteURI(name, "") }

// ProbeSiteURI is the URI SAN that names a probe of site (site "" leaves the
// site out).
func ProbeSiteURI(name, site string) *url.URL {
	u := &url.URL{Scheme: uriScheme, Opaque: probePrefix + name}
	if site != "" {
		u.RawQuery = url.Values{siteParam: {site}}.Encode()
	}
	return u
}

// OperatorURI is the URI SAN that names an operator.
func OperatorURI(name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Opaque: operatorPrefix + name}
}

// CoordinatorURI is the URI SAN that names a coordinator.
func CoordinatorURI(name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Opaque: coordinatorPrefix + name}
}

// ErrNotProbe: the certificate names no probe (e.g. a coordinator's).
var ErrNotProbe = errors.New("the certificate names no probe")

// ErrNoRole: the certificate names neither a probe nor an operator.
var ErrNoRole = errors.New("the certificate names no probe and no operator")

// CertIdentity returns the probe or operator a certificate vouches for. A
// certificate must carry exactly one probe or operator URI.
func CertIdentity(c *x509.Certificate) (Identity, error) {
	var ids []Identity
	other := false
	for _, u := range c.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		if n, ok := strings.CutPrefix(u.Opaque, probePrefix); ok {
			ids = append(ids, Identity{Role: RoleProbe, Name: n, Site: u.Query().Get(siteParam)})
		} else if n, ok := strings.CutPrefix(u.Opaque, operatorPrefix); ok {
			ids = append(ids, Identity{Role: RoleOperator, Name: n})
		} else {
			other = true
		}
	}
	switch {
	case len(ids) == 1 && ids[0].Name != "":
		return ids[0], nil
	case len(ids) == 1:
		return Identity{}, fmt.Errorf("%w: the %s URI of %q has an empty name", ErrNoRole, ids[0].Role, c.Subject.CommonName)
	case len(ids) > 1:
		names := make([]string, len(ids))
		for i, id := range ids {
			names[i] = id.String()
		}
		return Identity{}, fmt.Errorf("the certificate names %d identities %v; issue one certificate per probe or operator", len(ids), names)
	case other:
		return Identity{}, fmt.Errorf("%w (%q carries a linkmesh: URI of another role)", ErrNoRole, c.Subject.CommonName)
	case c.Subject.CommonName != "":
		return Identity{Role: RoleProbe, Name: c.Subject.CommonName}, nil
	}
	return Identity{}, fmt.Errorf("%w: no %s%s<name> URI SAN and no Common Name", ErrNoRole, uriScheme+":", probePrefix)
}

// ProbeName returns the probe name a certificate vouches for; an operator's
// certificate names no probe (ErrNotProbe).
func ProbeName(c *x509.Certificate) (string, error) {
	id, err := CertIdentity(c)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrNotProbe, err)
	case id.Role != RoleProbe:
		return "", fmt.Errorf("%w (%q is the certificate of %s)", ErrNotProbe, c.Subject.CommonName, id)
	}
	return id.Name, nil
}

// PeerIdentity returns the identity the caller's verified certificate vouches
// for. secured is false when the connection has no TLS (an --insecure server).
func PeerIdentity(ctx context.Context) (id Identity, secured bool, err error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return Identity{}, false, nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, false, nil
	}
	chains := ti.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return Identity{}, true, errors.New("the client presented no verified certificate")
	}
	id, err = CertIdentity(chains[0][0])
	return id, true, err
}

// PeerProbe returns the probe name the caller's verified certificate vouches for.
// secured is false when the connection has no TLS (an --insecure server).
func PeerProbe(ctx context.Context) (name string, secured bool, err error) {
	id, secured, err := PeerIdentity(ctx)
	if err != nil || !secured {
		return "", secured, err
	}
	if id.Role != RoleProbe {
		return "", true, fmt.Errorf("%w (the certificate of %s)", ErrNotProbe, id)
	}
	return id.Name, true, nil
}
