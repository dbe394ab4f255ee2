package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/keyfile"
	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/pki"
)

const certsUsage = `usage: linkmesh certs <what> [flags]

  ca        create the mesh's private CA: ca.crt and ca.key (keep ca.key offline)
  server    issue a coordinator certificate for the names/addresses probes dial (--san)
  probe     issue a probe certificate; the coordinator accepts it only from a probe
            of that --name registering with that --site
  operator  issue an operator certificate: it may run check rounds
            (linkmesh check --coordinator), and nothing a probe does
  mesh-key  write a new mesh key (the shared secret of gossip and the echo hello)

Example (one CA, one coordinator, two probes):
  linkmesh certs ca --dir pki
  linkmesh certs server --dir pki --name coord-1 --san coord.example.net,10.20.0.4
  linkmesh certs probe --dir pki --name sql01 --site sql
  linkmesh certs probe --dir pki --name mi-vnet-01 --site mi
  linkmesh certs operator --dir pki --name alice
  linkmesh certs mesh-key --out pki/mesh.key

Run 'linkmesh certs <what> -h' for its flags. See docs/security.md.
`

// probeNameRe mirrors the probe's --name rule, so a certificate is never issued
// for a name no probe can take.
var probeNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$`)

// siteRe mirrors the probe's --site rule (a metric label value).
var siteRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Certs runs `linkmesh certs`.
func Certs(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		io.WriteString(stderr, certsUsage)
		return usageErrorf("certs: say what to create: ca, server, probe, operator or mesh-key")
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		io.WriteString(stdout, certsUsage)
		return flag.ErrHelp
	}
	what, args := args[0], args[1:]
	synopsis, ok := certsSynopsis[what]
	if !ok {
		io.WriteString(stderr, certsUsage)
		return usageErrorf("certs: unknown %q; use ca, server, probe, operator or mesh-key", what)
	}
	c := certsFlags{fs: newFlagSet("certs "+what, synopsis, args, stdout, stderr), stdout: stdout}
	c.fs.StringVar(&c.dir, "dir", ".", "directory of ca.crt/ca.key and of the files written")
	c.fs.BoolVar(&c.force, "force", false, "replace existing files")
	c.fs.StringVar(&c.key.Group, "group", "", "Unix only: a group that may read the key written (mode 0640), e.g. linkmesh, the group the packaged services run as; default: the key is yours alone (0600)")
	c.fs.StringVar(&c.key.Account, "acl-account", "", "Windows only: one more account that may read the key written, e.g. \"NT SERVICE\\linkmesh-probe\" (the probe service; it need not exist yet); SYSTEM, Administrators and you always can, nobody else")
	switch what {
	case "ca":
		return c.ca(args)
	case "server", "probe", "operator":
		return c.issue(what, args)
	default: // "mesh-key"
		return c.meshKey(args)
	}
}

// certsSynopsis is the usage text of each `linkmesh certs` command.
var certsSynopsis = map[string]string{
	"ca": `usage: linkmesh certs ca [--dir DIR] [--name NAME] [--days N]

Creates the mesh's private CA: DIR/ca.crt (copy it to every probe and
coordinator) and DIR/ca.key (keep it offline: it issues certificates).`,
	"server": `usage: linkmesh certs server --name NAME --san HOST[,HOST...] [--dir DIR] [--days N]

Issues a coordinator certificate from DIR/ca.crt and DIR/ca.key for the names
and addresses probes dial (--san): DIR/NAME.crt and DIR/NAME.key.`,
	"probe": `usage: linkmesh certs probe --name NAME --site SITE [--dir DIR] [--days N]

Issues a probe certificate: DIR/NAME.crt and DIR/NAME.key. The coordinator
accepts it only from a probe started with that --name and that --site.`,
	"operator": `usage: linkmesh certs operator --name NAME [--dir DIR] [--days N]

Issues an operator certificate: DIR/NAME.crt and DIR/NAME.key. It may run check
rounds (linkmesh check --coordinator), and nothing a probe does.`,
	"mesh-key": `usage: linkmesh certs mesh-key [--dir DIR | --out FILE] [--force]

Writes a new mesh key (the shared secret of gossip and of the echo hello) to
DIR/mesh.key, or FILE. Every probe and coordinator of the mesh needs the same one.`,
}

// certsFlags are the flags every `linkmesh certs` command shares.
type certsFlags struct {
	fs     *flag.FlagSet
	stdout io.Writer
	dir    string
	force  bool
	key    keyfile.Options
}

// ca creates a CA.
func (c *certsFlags) ca(args []string) error {
	name := c.fs.String("name", "linkmesh CA", "the CA's name (Common Name)")
	days := c.fs.Int("days", 3650, "validity in days")
	if err := parse(c.fs, args); err != nil {
		return err
	}
	_, pair, err := pki.NewCA(*name, days2d(*days))
	if err != nil {
		return err
	}
	return writePair(c.stdout, pair, c.dir, "ca", c.force, c.key, "copy ca.crt to every probe and coordinator; keep ca.key offline (it issues certificates)")
}

// issue issues a server, probe or operator certificate from the CA.
func (c *certsFlags) issue(what string, args []string) error {
	fs := c.fs
	name := fs.String("name", "", "the coordinator's, probe's or operator's name (required; a probe's must equal its --name)")
	var sans listFlag
	var site *string
	switch what {
	case "server":
		fs.Var(&sans, "san", "host name or IP address probes use to reach the coordinator (repeatable or comma-separated; required)")
	case "probe":
		site = fs.String("site", "", "the probe's site (required; must equal the probe's --site: the coordinator refuses the probe under another site)")
	}
	days := fs.Int("days", 825, "validity in days")
	caCert := fs.String("ca-cert", "", "the CA certificate (default DIR/ca.crt)")
	caKey := fs.String("ca-key", "", "the CA key (default DIR/ca.key)")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *name == "":
		return usageErrorf("certs %s: --name is required", what)
	case !probeNameRe.MatchString(*name):
		return usageErrorf("certs %s: --name %q: use 1-63 letters, digits, '.', '_', ':', '-'", what, *name)
	case site != nil && *site == "":
		return usageErrorf("certs probe: --site is required (the probe's --site, e.g. sql or mi): the certificate binds the probe to it")
	case site != nil && !siteRe.MatchString(*site):
		return usageErrorf("certs probe: --site %q: use 1-63 letters, digits, '.', '_', '-'", *site)
	case what == "server" && len(sans) == 0:
		return usageErrorf("certs server: give the names or addresses probes dial with --san (e.g. --san coord.example.net,10.20.0.4)")
	}
	if *caCert == "" {
		*caCert = filepath.Join(c.dir, "ca.crt")
	}
	if *caKey == "" {
		*caKey = filepath.Join(c.dir, "ca.key")
	}
	ca, err := pki.LoadCA(*caCert, *caKey)
	if err != nil {
		return err
	}
	var pair pki.Pair
	var next string
	switch what {
	case "server":
		pair, err = ca.IssueServer(*name, sans, days2d(*days))
		next = fmt.Sprintf("start the coordinator with --tls-ca ca.crt --tls-cert %s.crt --tls-key %s.key (or tls: in its config); probes dial one of: %s", *name, *name, strings.Join(sans, ", "))
	case "probe":
		pair, err = ca.IssueProbeSite(*name, *site, days2d(*days))
		next = fmt.Sprintf("start the probe with --name %s --site %s --tls-ca ca.crt --tls-cert %s.crt --tls-key %s.key", *name, *site, *name, *name)
	default:
		pair, err = ca.IssueOperator(*name, days2d(*days))
		next = fmt.Sprintf("run check rounds with linkmesh check --coordinator HOST:PORT --tls-ca ca.crt --tls-cert %s.crt --tls-key %s.key --probe <the SQL host's probe>", *name, *name)
	}
	if err != nil {
		return err
	}
	return writePair(c.stdout, pair, c.dir, *name, c.force, c.key, next)
}

// meshKey writes a new mesh key: to --out, else to mesh.key in --dir.
func (c *certsFlags) meshKey(args []string) error {
	out := c.fs.String("out", "", "file to write (default DIR/mesh.key; mode 0600; on Windows readable by SYSTEM, Administrators, you and --acl-account only)")
	if err := parse(c.fs, args); err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(c.dir, "mesh.key")
	}
	if _, err := os.Stat(*out); err == nil && !c.force {
		return fmt.Errorf("%s exists; refusing to replace it (pass --force to overwrite; every member needs the same key)", *out)
	}
	k, err := meshkey.Generate()
	if err != nil {
		return err
	}
	if err := meshkey.WriteFor(*out, k, c.key); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "wrote %s (copy it to every probe and coordinator of this mesh)\n", *out)
	return err
}

func days2d(days int) time.Duration { return time.Duration(days) * 24 * time.Hour }

func writePair(w io.Writer, p pki.Pair, dir, base string, force bool, key keyfile.Options, next string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	cert, keyPath := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := p.WriteFor(cert, keyPath, force, key); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s and %s\nnext: %s\n", cert, keyPath, next)
	return err
}
