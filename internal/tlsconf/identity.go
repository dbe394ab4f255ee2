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

// A probe's name lives in its certificate as a URI SAN "linkmesh:probe:<name>"
// (and, for people reading the certificate, as its Common Name). The coordinator
// reads the URI SAN; a certificate without any linkmesh: URI falls back to its
// Common Name, so a certificate from an existing PKI works when its CN is the
// probe's name.
const (
	uriScheme         = "linkmesh"
	probePrefix       = "probe:"
	coordinatorPrefix = "coordinator:"
)

// ProbeURI is the URI SAN that names a probe.
func ProbeURI(name string) *url.URL { return &url.URL{Scheme: uriScheme, Opaque: probePrefix + name} }

// CoordinatorURI is the URI SAN that names a coordinator.
func CoordinatorURI(name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Opaque: coordinatorPrefix + name}
}

// ErrNotProbe: the certificate names no probe (e.g. a coordinator's).
var ErrNotProbe = errors.New("the certificate names no probe")

// ProbeName returns the probe name a certificate vouches for.
func ProbeName(c *x509.Certificate) (string, error) {
	var names []string
	other := false
	for _, u := range c.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		if n, ok := strings.CutPrefix(u.Opaque, probePrefix); ok {
			names = append(names, n)
		} else {
			other = true
		}
	}
	switch {
	case len(names) == 1:
		return names[0], nil
	case len(names) > 1:
		return "", fmt.Errorf("the certificate names %d probes %v; issue one certificate per probe", len(names), names)
	case other:
		return "", fmt.Errorf("%w (%q carries a linkmesh: URI of another role)", ErrNotProbe, c.Subject.CommonName)
	case c.Subject.CommonName != "":
		return c.Subject.CommonName, nil
	}
	return "", fmt.Errorf("%w: no %s%s<name> URI SAN and no Common Name", ErrNotProbe, uriScheme+":", probePrefix)
}

// PeerProbe returns the probe name the caller's verified certificate vouches for.
// secured is false when the connection has no TLS (an --insecure server).
func PeerProbe(ctx context.Context) (name string, secured bool, err error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return "", false, nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", false, nil
	}
	chains := ti.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "", true, errors.New("the client presented no verified certificate")
	}
	name, err = ProbeName(chains[0][0])
	return name, true, err
}
