//go:build linux

package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// TestLabIdentityWrongAdvertise: a third probe, dr1, runs on the sql host with
// its responder on :5024 but advertises mi's responder address (a wrong
// --advertise, as a NAT or copy-paste mistake makes). Every end holds the
// mesh key, so before the hello named its probe, sql1 → dr1 measured mi1 and
// mi1 → dr1 measured mi1 itself, both ok. Now the echo hello says who
// answered: sql1 → dr1 is mismatch "answered by probe mi1, expected dr1",
// mi1 → dr1 is mismatch naming its own responder, never ok; sql1 → mi1 stays
// ok and its detail names mi1.
func TestLabIdentityWrongAdvertise(t *testing.T) {
	const drResponder = 5024
	lab := netlab.New(t)
	m := startLabMesh(t, lab, `
defaults: {interval: 1s, timeout: 1s}
stale_after: 10s
# dr1 connects from the sql host but advertises mi1's address: the lab's
# network is allowlisted, so registration lets it through and the echo
# identity check must catch it (without the allowlist, Register refuses it).
responder_cidrs: [198.18.0.0/15]
paths:
  - {name: echo-mi, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-dr-from-sql, from: {site: sql}, to: {site: dr}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-dr-from-mi, from: {site: mi}, to: {site: dr}, kind: echo, echo: {mtu_every: 0s}}
`, nil)
	sql, mi := lab.SQL(), lab.MI()
	wrong := net.JoinHostPort(mi.Addr().String(), fmt.Sprint(labResponder))
	coord := net.JoinHostPort(lab.Router().AddrToward(sql).String(), fmt.Sprint(labGRPC))
	startProcess(t, sql, "dr-probe", m.bin, "probe", "--name", "dr1", "--site", "dr",
		"--coordinator", coord, "--responder", fmt.Sprintf(":%d", drResponder), "--advertise", wrong,
		"--insecure", "--no-gossip", "--log-level", "debug",
		"--plan-cache", filepath.Join(m.dir, "dr-plan.pb"), "--mesh-key-file", m.key)

	got := waitEcho(t, m.paths, []echoWant{
		{"sql1", "mi1", "up", []string{"responder mi1 proved the mesh key"}},
		{"sql1", "dr1", "down", []string{"answered by probe mi1, expected dr1", wrong, "--advertise"}},
		{"mi1", "dr1", "down", []string{"answered by probe mi1", "this probe's own responder", "expected dr1", "points back here"}},
	})
	// Not one attempt to the wrongly advertised probe reads ok.
	s := m.scrape(t)
	for _, src := range []string{"sql1", "mi1"} {
		if n := kindCount(s, src, "dr1", labResponder, "echo", "ok"); n != 0 {
			t.Errorf("%s → dr1: %v ok attempts against another probe's responder", src, n)
		}
		if n := kindCount(s, src, "dr1", labResponder, "echo", "mismatch"); n < 1 {
			t.Errorf("%s → dr1: no mismatch counted", src)
		}
	}
	report(t, "wrong --advertise (dr1 advertised at mi1's responder "+wrong+"):",
		"sql1 → dr1: "+got["sql1→dr1"].LastDetail,
		"mi1 → dr1: "+got["mi1→dr1"].LastDetail,
		"sql1 → mi1: "+got["sql1→mi1"].LastDetail)
}

// echoWant is the state and detail words one echo path must reach.
type echoWant struct {
	src, dst string
	state    string
	detail   []string
}

// waitEcho reads the coordinator's echo paths until every want holds (30 s),
// and returns the paths by "src→dst".
func waitEcho(t *testing.T, paths func(time.Duration) ([]apiPath, error), wants []echoWant) map[string]apiPath {
	t.Helper()
	got := map[string]apiPath{}
	matches := func(w echoWant) bool {
		p, ok := got[w.src+"→"+w.dst]
		if !ok || p.State != w.state {
			return false
		}
		for _, d := range w.detail {
			if !strings.Contains(p.LastDetail, d) {
				return false
			}
		}
		return true
	}
	if waitfor.Poll(30*time.Second, func() bool {
		if ps, err := paths(time.Minute); err == nil {
			for _, p := range ps {
				if p.Kind == "echo" {
					got[p.Source+"→"+p.Target] = p
				}
			}
		}
		for _, w := range wants {
			if !matches(w) {
				return false
			}
		}
		return true
	}) {
		return got
	}
	for _, w := range wants {
		p := got[w.src+"→"+w.dst]
		t.Errorf("%s → %s: state %q, detail %q; want %s with %q", w.src, w.dst, p.State, p.LastDetail, w.state, w.detail)
	}
	t.FailNow()
	return nil
}

// TestLabIdentityTLS: in a mesh with certificates (real processes started
// with --tls-ca/--tls-cert/--tls-key and the mesh key), the echo hello proves
// the responder's name with its certificate: sql1 → mi1 reads "proved the mesh
// key and its certificate"; a probe dr1 advertised at mi1's responder is
// still caught as "answered by probe mi1, expected dr1".
func TestLabIdentityTLS(t *testing.T) {
	const drResponder = 5024
	l := newTLSLab(t)
	if out, err := exec.Command(l.bin, "certs", "probe", "--dir", l.pki, "--name", "dr1", "--site", "dr").CombinedOutput(); err != nil {
		t.Fatalf("linkmesh certs probe dr1: %v\n%s", err, out)
	}
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(l.pki, "mesh.key")
	if err := meshkey.Write(keyFile, key); err != nil {
		t.Fatal(err)
	}
	l.startCoordinator(t, `
defaults: {interval: 1s, timeout: 1s}
stale_after: 10s
# dr1 connects from the sql host but advertises mi1's address: the lab's
# network is allowlisted, so registration lets it through and the echo
# identity check must catch it (without the allowlist, Register refuses it).
responder_cidrs: [198.18.0.0/15]
paths:
  - {name: echo-mi, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-sql, from: {site: mi}, to: {site: sql}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-dr, from: {site: sql}, to: {site: dr}, kind: echo, echo: {mtu_every: 0s}}
`)
	sql, mi := l.lab.SQL(), l.lab.MI()
	l.startProbe(t, sql, "sql1", "sql", "--mesh-key-file", keyFile)
	l.startProbe(t, mi, "mi1", "mi", "--mesh-key-file", keyFile)
	wrong := net.JoinHostPort(mi.Addr().String(), fmt.Sprint(labResponder))
	coord := net.JoinHostPort(l.lab.Router().AddrToward(sql).String(), fmt.Sprint(labGRPC))
	startLabProc(t, sql, "dr1", l.bin, "probe", "--name", "dr1", "--site", "dr", "--coordinator", coord,
		"--responder", fmt.Sprintf(":%d", drResponder), "--advertise", wrong,
		"--tls-ca", filepath.Join(l.pki, "ca.crt"), "--tls-cert", filepath.Join(l.pki, "dr1.crt"), "--tls-key", filepath.Join(l.pki, "dr1.key"),
		"--mesh-key-file", keyFile, "--no-gossip", "--plan-cache", "off", "--log-level", "debug")
	m := &labMesh{client: l.client, base: l.coordURL("")}
	got := waitEcho(t, m.paths, []echoWant{
		{"sql1", "mi1", "up", []string{"responder mi1 proved the mesh key and its certificate"}},
		{"mi1", "sql1", "up", []string{"responder sql1 proved the mesh key and its certificate"}},
		{"sql1", "dr1", "down", []string{"answered by probe mi1, expected dr1", wrong}},
	})
	report(t, "mesh with certificates:",
		"sql1 → mi1: "+got["sql1→mi1"].LastDetail,
		"sql1 → dr1: "+got["sql1→dr1"].LastDetail)
}
