package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/internal/yamlconf"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// Bounds on rule timing: faster would load real endpoints, slower is not monitoring.
const (
	minInterval = 100 * time.Millisecond
	maxInterval = time.Hour
)

// validName bounds names, sites and labels that become Prometheus label
// values: the rule Register applies to probes (one rule set).
var validName = pathstate.ValidName

func (c *Config) validate(doc *yamlconf.Doc) error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	errs = append(errs, c.validateNetwork(doc)...)
	errs = append(errs, c.validateTiming(doc)...)
	add(c.validateMembership(doc))
	if len(c.Paths) == 0 {
		add(doc.Errorf([]any{"paths"}, "the path policy is empty; add at least one rule such as {from: {site: sql}, to: {site: mi}, kind: tcp}"))
	}
	add(c.validateTLS(doc))
	errs = append(errs, c.validateFiles(doc)...)
	errs = append(errs, c.validateLimits(doc)...)
	errs = append(errs, c.CheckRounds.validate(doc)...)
	errs = append(errs, c.validatePaths(doc)...)
	c.warnings = c.ruleWarnings(doc)
	return bounded(errs)
}

// maxErrors bounds the errors a config reports: every one up to it, then
// how many more (a file of 10,000 broken rules prints a screen, not a book).
const maxErrors = 20

// bounded joins errs (nil ones left out), at most maxErrors of them.
func bounded(errs []error) error {
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if n := len(errs); n > maxErrors {
		errs = append(errs[:maxErrors], fmt.Errorf("… and %d more errors", n-maxErrors))
	}
	return errors.Join(errs...)
}

// withPort adds the gossip port to a bare host.
func withPort(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err != nil && !strings.Contains(addr, ":") {
		return net.JoinHostPort(addr, "7946")
	}
	return addr
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. \":7022\" or \"127.0.0.1:7022\")", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("%q is not an IP address or host name", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// validHostname accepts RFC 1123 host names.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// validate applies defaults to r and returns what is wrong with it.
func (r *Rule) validate(doc *yamlconf.Doc, i int, d Defaults) []error {
	var errs []error
	at := func(path ...any) []any { return append([]any{"paths", i}, path...) }
	if r.Kind == "" {
		r.Kind = "tcp"
	}
	if _, ok := vocab.ParseKind(r.Kind); !ok {
		errs = append(errs, doc.Errorf(at("kind"), "unknown kind %q; use one of %s", r.Kind, strings.Join(vocab.KindNames(), ", ")))
	}
	if r.Interval == 0 {
		r.Interval = d.Interval
	}
	if r.Timeout == 0 {
		r.Timeout = d.Timeout
	}
	if r.Interval < minInterval || r.Interval > maxInterval {
		errs = append(errs, doc.Errorf(at("interval"), "%v is out of range; use %v to %v", r.Interval, minInterval, maxInterval))
	}
	if r.Timeout <= 0 || r.Timeout > r.Interval {
		errs = append(errs, doc.Errorf(at("timeout"), "%v must be positive and no longer than the interval (%v)", r.Timeout, r.Interval))
	}
	if r.From.Site == "" && len(r.From.Labels) == 0 {
		errs = append(errs, doc.Errorf(at("from"), "selects no probe; give a site (from: {site: sql}) or labels"))
	}
	errs = append(errs, checkLabels(doc, at("from"), r.From.Site, r.From.Labels)...)
	to := &r.To
	if to.Ports != "" && r.Kind != "tcp" {
		errs = append(errs, doc.Errorf(at("to", "ports"), "port ranges are for kind tcp (the MI nodes' 11000-11999); kind %s measures one port", r.Kind))
	} else if to.Ports != "" {
		errs = append(errs, to.parseRange(doc, at("to"), r)...)
	} else if to.Sample != 0 {
		errs = append(errs, doc.Errorf(at("to", "sample"), "sample only applies to a port range (ports: 11000-11999)"))
	}
	switch {
	case to.Address != "":
		if len(to.Labels) > 0 {
			errs = append(errs, doc.Errorf(at("to", "labels"), "a static address cannot also select probes by labels; split it into two rules"))
		}
		if net.ParseIP(to.Address) == nil && !validHostname(to.Address) {
			errs = append(errs, doc.Errorf(at("to", "address"), "%q is not an IP address or host name (give the host alone, the port in port:)", to.Address))
		}
		switch {
		case r.Kind == "dns" && (to.Port != 0 || to.Ports != ""):
			errs = append(errs, doc.Errorf(at("to", "port"), "kind dns resolves a name and uses no port; leave port out"))
		case r.Kind != "dns" && (to.Port < 1 || to.Port > 65535) && to.Ports == "":
			errs = append(errs, doc.Errorf(at("to", "port"), "%d is not a TCP port; use 1 to 65535 (the MI link uses 5022)", to.Port))
		}
		if to.Site == "" {
			to.Site = "external"
		}
		if to.Name == "" {
			to.Name = to.Address
		}
	case to.Site != "" || len(to.Labels) > 0:
		if to.Name != "" {
			errs = append(errs, doc.Errorf(at("to", "name"), "name is only for a static address; probes are named by themselves"))
		}
		if to.Port < 0 || to.Port > 65535 {
			errs = append(errs, doc.Errorf(at("to", "port"), "%d is not a TCP port; use 1 to 65535, or leave it out for the probes' responder port", to.Port))
		}
	default:
		errs = append(errs, doc.Errorf(at("to"), "names no target; give an address and port, or a site (to: {site: mi})"))
	}
	if to.Address == "" {
		errs = append(errs, checkLabels(doc, at("to"), to.Site, to.Labels)...)
	} else if !validName(to.Site) {
		errs = append(errs, doc.Errorf(at("to", "site"), "%q is not a valid site name (letters, digits, '.', '_', '-'; at most 63)", to.Site))
	}
	errs = append(errs, r.validateKindOptions(doc, at)...)
	if r.Name == "" {
		r.Name = r.defaultName()
	}
	return errs
}

func checkLabels(doc *yamlconf.Doc, at []any, site string, labels map[string]string) []error {
	var errs []error
	if site != "" && !validName(site) {
		errs = append(errs, doc.Errorf(append(at, "site"), "%q is not a valid site name (letters, digits, '.', '_', '-'; at most 63)", site))
	}
	for k, v := range labels {
		if !validName(k) || !validName(v) {
			errs = append(errs, doc.Errorf(append(at, "labels", k), "label %s=%s: keys and values use letters, digits, '.', '_', '-' (at most 63)", k, v))
		}
	}
	return errs
}

// key identifies what a rule measures, to find duplicates.
func (r *Rule) key() string {
	return fmt.Sprintf("%s|%v|%s|%v|%s|%d-%d|%s", r.From.Site, sortedPairs(r.From.Labels), r.To.Site, sortedPairs(r.To.Labels), strings.ToLower(r.To.Address), r.To.Port, r.To.PortEnd, r.Kind)
}

// maxSample bounds the ports one round may try.
const maxSample = 64

// parseRange parses to.Ports into Port/PortEnd and checks Sample against it.
func (to *Destination) parseRange(doc *yamlconf.Doc, at []any, r *Rule) []error {
	field := append(append([]any{}, at...), "ports")
	if to.Port != 0 {
		return []error{doc.Errorf(field, "give either port or ports, not both")}
	}
	lo, hi, ok := strings.Cut(to.Ports, "-")
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	switch {
	case !ok || errA != nil || errB != nil:
		return []error{doc.Errorf(field, "%q is not a port range; write it as low-high, e.g. 11000-11999", to.Ports)}
	case a < 1 || b > 65535:
		return []error{doc.Errorf(field, "%q is outside 1-65535", to.Ports)}
	case a >= b:
		return []error{doc.Errorf(field, "%q is reversed or empty; write the lower port first, e.g. 11000-11999", to.Ports)}
	}
	to.Port, to.PortEnd = a, b
	if to.Sample == 0 {
		to.Sample = min(4, b-a+1)
	}
	if to.Sample < 1 || to.Sample > min(maxSample, b-a+1) {
		return []error{doc.Errorf(append(append([]any{}, at...), "sample"), "%d ports a round: use 1 to %d", to.Sample, min(maxSample, b-a+1))}
	}
	if time.Duration(to.Sample)*r.Timeout > r.Interval {
		return []error{doc.Errorf(append(append([]any{}, at...), "sample"), "%d ports × timeout %v do not fit in the interval %v; lower sample or timeout, or raise the interval", to.Sample, r.Timeout, r.Interval)}
	}
	if to.RefusedOK == nil {
		yes := true
		to.RefusedOK = &yes
	}
	return nil
}

func (r *Rule) defaultName() string {
	from := r.From.Site
	if from == "" {
		from = fmt.Sprint(sortedPairs(r.From.Labels))
	}
	to := r.To.Address
	if to == "" {
		to = r.To.Site
		if to == "" {
			to = fmt.Sprint(sortedPairs(r.To.Labels))
		}
	}
	if r.To.PortEnd != 0 {
		to += ":" + r.To.Ports
	} else if r.To.Port != 0 {
		to += ":" + strconv.Itoa(r.To.Port)
	}
	return fmt.Sprintf("%s->%s/%s", from, to, r.Kind)
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// validateTLS checks that tls names all three files or none, resolves them
// against the config file's directory, and that each exists.
func (c *Config) validateTLS(doc *yamlconf.Doc) error {
	t := &c.TLS
	if t.CA == "" && t.Cert == "" && t.Key == "" {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		key string
		v   *string
	}{{"ca", &t.CA}, {"cert", &t.Cert}, {"key", &t.Key}} {
		if *f.v == "" {
			errs = append(errs, doc.Errorf([]any{"tls"}, "tls.%s is missing; give ca, cert and key together (create them with `linkmesh certs`)", f.key))
			continue
		}
		*f.v = c.resolve(*f.v)
		if _, err := os.Stat(*f.v); err != nil {
			errs = append(errs, doc.Errorf([]any{"tls", f.key}, "%v (a relative path is relative to the config file's directory)", err))
		}
	}
	return errors.Join(errs...)
}

// resolve makes a relative path relative to the config file's directory.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Bounds on forget_after: shorter would forget a probe that is only down for
// a maintenance window; the upper bound catches a typo in the unit.
const (
	minForgetAfter = time.Hour
	maxForgetAfter = 10 * 365 * 24 * time.Hour
)

// validateMembership checks forget_after, forget and responder_cidrs.
func (c *Config) validateMembership(doc *yamlconf.Doc) error {
	var errs []error
	if c.ForgetAfter < minForgetAfter || c.ForgetAfter > maxForgetAfter || c.ForgetAfter <= c.StaleAfter {
		errs = append(errs, doc.Errorf([]any{"forget_after"}, "%v is out of range; use 1h to 87600h, above stale_after (default 168h: a week)", c.ForgetAfter))
	}
	for i, name := range c.Forget {
		if !validName(name) {
			errs = append(errs, doc.Errorf([]any{"forget", i}, "%q is not a probe name (1-63 letters, digits, '.', '_', '-')", name))
		}
	}
	c.responderNets = nil
	for i, cidr := range c.ResponderCIDRs {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			errs = append(errs, doc.Errorf([]any{"responder_cidrs", i}, "%q is not a CIDR such as 10.20.0.0/16 or fd00::/64", cidr))
			continue
		}
		c.responderNets = append(c.responderNets, p.Masked())
	}
	return errors.Join(errs...)
}
