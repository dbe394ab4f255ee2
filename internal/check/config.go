package check

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/probe/tcp"
)

// Ports the MI link uses. The MI's cannot be changed; SQL Server's endpoint port can.
const (
	// MIPort is the MI's database mirroring endpoint port (P1).
	MIPort = 5022
	// SQLEndpointPort is the usual port of SQL Server's mirroring endpoint (P3).
	SQLEndpointPort = 5022
)

// DefaultHADRPorts is the MI nodes' HADR port range (P2).
var DefaultHADRPorts = PortRange{Lo: 11000, Hi: 11999}

// Config is what the standalone checks test. The CLI fills it from flags with
// the Parse functions below, which give the one-line errors users see.
type Config struct {
	// MI is the MI's VNet-local FQDN (or, less usefully, an address).
	MI string
	// MIPort is the MI's mirroring endpoint port: always MIPort from the CLI;
	// tests point it at a loopback listener.
	MIPort uint16
	// MISubnet is the MI's subnet; when valid, D1 requires the MI's address in it
	// and the fixes use it as the NSG's destination prefix.
	MISubnet netip.Prefix
	// MINode is an MI node's host name or address for P2; empty: the MI's own
	// address. MINodePort, when not 0, is the one node port to test; otherwise
	// HADRSample ports of HADRPorts are sampled at random.
	MINode     string
	MINodePort uint16
	HADRPorts  PortRange
	HADRSample int
	// SQLEndpoint is host:port of SQL Server's mirroring endpoint on this host;
	// empty skips the EP row.
	SQLEndpoint string
	// Timeout bounds each network attempt (and the DNS lookup).
	Timeout time.Duration
	// Resolver resolves names; nil means the system's resolver.
	Resolver tcp.Resolver
}

// Validate checks the combinations Parse functions cannot see alone.
func (c Config) Validate() error {
	switch {
	case c.MI == "":
		return errors.New("--mi is required: the MI's VNet-local FQDN, e.g. sqlmi1.abc123def456.database.windows.net")
	case c.HADRPorts.Lo == 0:
		return errors.New("--hadr-ports: no range")
	case c.MINodePort != 0 && !c.HADRPorts.Contains(c.MINodePort):
		return fmt.Errorf("--mi-node port %d is outside --hadr-ports %s (the MI nodes' HADR ports)", c.MINodePort, c.HADRPorts)
	case c.HADRSample < 1 || c.HADRSample > maxSample:
		return fmt.Errorf("--hadr-sample %d: use 1 to %d ports", c.HADRSample, maxSample)
	case c.Timeout < 100*time.Millisecond || c.Timeout > 2*time.Minute:
		return fmt.Errorf("--timeout %v: use 100ms to 2m", c.Timeout)
	}
	return nil
}

// maxSample bounds --hadr-sample: the sampled ports are dialed at once.
const maxSample = 64

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	// Lo and Hi are the first and last port of the range (equal for one port).
	Lo, Hi uint16
}

// ParsePortRange reads "11000-11999" or a single port "11002".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
	}
	b := a
	if isRange {
		if b, err = parsePort(hi); err != nil {
			return PortRange{}, fmt.Errorf("port range %q: %w", s, err)
		}
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %q: %d is below %d; write low-high, e.g. 11000-11999", s, b, a)
	}
	return PortRange{Lo: a, Hi: b}, nil
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool { return port >= r.Lo && port <= r.Hi }

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.Hi) - int(r.Lo) + 1 }

// String renders the range as "11000-11999", or "11002" for one port.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a TCP port (1 to 65535)", s)
	}
	return uint16(n), nil
}

// ParseHost checks a host name or IP address given in flag (e.g. "--mi"): no
// scheme, no port, a name of dot-separated labels of letters, digits and
// hyphens. It returns the host without a trailing dot.
func ParseHost(flag, s string) (string, error) {
	h := strings.TrimSpace(s)
	if h == "" {
		return "", fmt.Errorf("%s: empty host name", flag)
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/\\") {
		return "", fmt.Errorf("%s %q: give the host name only, without a scheme or path", flag, s)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.String(), nil
	}
	if strings.Contains(h, ":") {
		return "", fmt.Errorf("%s %q: give the host name without a port", flag, s)
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > 253 {
		return "", fmt.Errorf("%s %q: a host name has at most 253 characters", flag, s)
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%s %q: give the fully qualified name (e.g. sqlmi1.abc123def456.database.windows.net), not a short name", flag, s)
	}
	for _, l := range labels {
		if !validLabel(l) {
			return "", fmt.Errorf("%s %q: %q is not a valid DNS label (letters, digits and hyphens, 1 to 63, not starting or ending with a hyphen)", flag, s, l)
		}
	}
	return h, nil
}

func validLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// ParseHostPort reads "host:port" for flag; with defaultPort not 0 the port may
// be left out ("host" means host:defaultPort).
func ParseHostPort(flag, s string, defaultPort uint16) (host string, port uint16, err error) {
	t := strings.TrimSpace(s)
	h, p, splitErr := net.SplitHostPort(t)
	if splitErr != nil {
		if defaultPort == 0 || strings.Count(t, ":") == 1 || strings.HasPrefix(t, "[") {
			return "", 0, fmt.Errorf("%s %q: write host:port, e.g. 127.0.0.1:5022", flag, s)
		}
		h, p = t, strconv.Itoa(int(defaultPort))
	}
	if port, err = parsePort(p); err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	if a, aerr := netip.ParseAddr(h); aerr == nil {
		return a.String(), port, nil
	}
	if h == "localhost" {
		return h, port, nil
	}
	host, err = ParseHost(flag, h)
	return host, port, err
}

// ParseSubnet reads a CIDR prefix such as 10.0.1.0/24. Host bits are cleared:
// 10.0.1.7/24 is the subnet 10.0.1.0/24.
func ParseSubnet(flag, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %q: not a CIDR prefix; write it like 10.0.1.0/24", flag, s)
	}
	return p.Masked(), nil
}
