package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultServiceName is the Windows service `linkmesh service install`
// creates; it runs as the virtual account NT SERVICE\<name>.
const DefaultServiceName = "linkmesh-probe"

const serviceSynopsis = `usage: linkmesh service install [--name NAME] [--dir DIR] -- PROBE FLAGS
       linkmesh service uninstall|start|stop [--name NAME] [--if-installed]
       linkmesh service status [--name NAME]

Windows only. Installs the probe as a Windows service (again: updates it),
running "linkmesh.exe probe PROBE FLAGS" from where this linkmesh.exe is, as
the virtual account NT SERVICE\NAME, started at boot, restarted after any
failure (also a clean exit with an error); its key files in DIR readable only
by SYSTEM, Administrators and the service; an Event Log source NAME for its
warnings and errors; Windows Firewall rules for its ports (created once,
removed on uninstall). Logs, spool and plan cache go to DIR unless the probe
flags say otherwise. start and stop are no error when the service already
runs or has stopped; --if-installed makes start, stop and uninstall do nothing
when there is no such service (the MSI uses it). On Linux the packages' systemd units do this
(docs/install.md).

Example (PowerShell, as Administrator, in C:\ProgramData\linkmesh):
  .\linkmesh.exe service install -- --site sql --name sql01 --coordinator coord.example.net:7022 ` + "`" + `
    --tls-ca ca.crt --tls-cert sql01.crt --tls-key sql01.key --mesh-key-file mesh.key --stand-in-ports 5022`

// Service runs `linkmesh service`.
func Service(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, serviceSynopsis+"\n")
		return usageErrorf("service: say what to do: install, uninstall, start, stop or status")
	}
	if wantsHelp(args[:1]) || args[0] == "help" {
		io.WriteString(stdout, serviceSynopsis+"\n")
		return flag.ErrHelp
	}
	what := args[0]
	switch what {
	case "install", "uninstall", "start", "stop", "status":
	default:
		return usageErrorf("service: unknown %q; use install, uninstall, start, stop or status", what)
	}
	fs := newFlagSet("service "+what, serviceSynopsis, args[1:], stdout, stderr)
	spec := serviceSpec{}
	fs.StringVar(&spec.Name, "name", DefaultServiceName, "the service's name (and its account NT SERVICE\\NAME and Event Log source)")
	switch what {
	case "start", "stop", "uninstall":
		fs.BoolVar(&spec.IfInstalled, "if-installed", false, "do nothing, successfully, when there is no such service")
	case "install":
		fs.StringVar(&spec.Dir, "dir", `C:\ProgramData\linkmesh`, "the folder of the probe's files (ca.crt, mesh.key, its certificate and key); relative paths in the probe flags are taken from it")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &UsageError{Err: err}
	}
	spec.ProbeArgs = fs.Args()
	if what != "install" && len(spec.ProbeArgs) > 0 {
		return usageErrorf("service %s: unexpected argument %q (probe flags go only to install, after --)", what, spec.ProbeArgs[0])
	}
	if what == "install" && len(spec.ProbeArgs) == 0 {
		return usageErrorf("service install: give the probe's flags after --, e.g. -- --site sql --name sql01 --coordinator HOST:7022 ...")
	}
	if !probeNameRe.MatchString(spec.Name) {
		return usageErrorf("service: --name %q: use letters, digits, '.', '_', '-'", spec.Name)
	}
	return manageService(ctx, what, spec, stdout)
}

// serviceSpec is what `linkmesh service` manages.
type serviceSpec struct {
	Name      string
	Dir       string   // install: the probe's folder
	ProbeArgs []string // install: the probe's flags
	// IfInstalled makes start, stop and uninstall succeed, doing nothing,
	// when there is no such service.
	IfInstalled bool
}

// Account is the service's virtual account.
func (s serviceSpec) Account() string { return `NT SERVICE\` + s.Name }

// Args are the arguments the service runs linkmesh.exe with: "probe", the
// probe flags with relative file paths made absolute in Dir, and a log file,
// spool and plan cache in Dir unless given.
func (s serviceSpec) Args() []string {
	out := []string{"probe"}
	given := map[string]bool{}
	for i := 0; i < len(s.ProbeArgs); i++ {
		a := s.ProbeArgs[i]
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		given[name] = true
		if !pathFlags[name] {
			out = append(out, a)
			continue
		}
		if !inline && i+1 < len(s.ProbeArgs) {
			i++
			value = s.ProbeArgs[i]
		}
		out = append(out, "--"+name, s.abs(value))
	}
	for _, d := range []struct{ flag, file string }{{"log-file", "probe.log"}, {"spool-dir", "spool"}, {"plan-cache", "plan.pb"}} {
		if !given[d.flag] {
			out = append(out, "--"+d.flag, s.abs(d.file))
		}
	}
	if !given["windows-service-name"] {
		out = append(out, "--windows-service-name", s.Name)
	}
	return out
}

// pathFlags are the probe flags that name files.
var pathFlags = map[string]bool{"tls-ca": true, "tls-cert": true, "tls-key": true, "mesh-key-file": true,
	"log-file": true, "spool-dir": true, "plan-cache": true, "web.config.file": true}

func (s serviceSpec) abs(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, `\\`) || (len(p) > 1 && p[1] == ':') {
		return p
	}
	return strings.TrimRight(s.Dir, `\/`) + `\` + p
}

// KeyFiles are the secret files among the probe's flags: the TLS key and the
// mesh key, which the service's account must read and nobody else.
func (s serviceSpec) KeyFiles() []string {
	var out []string
	args := s.Args()
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--tls-key" || args[i] == "--mesh-key-file" {
			out = append(out, args[i+1])
		}
	}
	return out
}

// firewallRule is one inbound Windows Firewall rule of the service.
type firewallRule struct {
	Name, Protocol string
	Port           int
}

// FirewallRules are the inbound rules the probe needs, from its flags: the
// responder (--responder, default 5023), gossip (7946 TCP and UDP unless
// --no-gossip), the stand-in ports a check round may bind (--stand-in-ports,
// default 5022) and its own /metrics (--metrics).
func (s serviceSpec) FirewallRules() []firewallRule {
	vals := map[string]string{"responder": ":5023", "gossip-bind": ":7946", "stand-in-ports": "5022"}
	noGossip := false
	for i := 0; i < len(s.ProbeArgs); i++ {
		name, value, inline := strings.Cut(strings.TrimLeft(s.ProbeArgs[i], "-"), "=")
		switch name {
		case "no-gossip":
			noGossip = !inline || value == "true"
			continue
		case "responder", "gossip-bind", "stand-in-ports", "metrics":
		default:
			continue
		}
		if !inline && i+1 < len(s.ProbeArgs) {
			i++
			value = s.ProbeArgs[i]
		}
		vals[name] = value
	}
	var rules []firewallRule
	add := func(what, proto, addr string) {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			p = addr
		}
		if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
			rules = append(rules, firewallRule{Name: fmt.Sprintf("%s %s (%s %d)", s.Name, what, proto, n), Protocol: proto, Port: n})
		}
	}
	if vals["responder"] != "" {
		add("responder", "TCP", vals["responder"])
	}
	if !noGossip {
		add("gossip", "TCP", vals["gossip-bind"])
		add("gossip", "UDP", vals["gossip-bind"])
	}
	for _, p := range strings.Split(vals["stand-in-ports"], ",") {
		if p = strings.TrimSpace(p); p != "" {
			add("stand-in", "TCP", p)
		}
	}
	if vals["metrics"] != "" {
		add("metrics", "TCP", vals["metrics"])
	}
	return rules
}
