//go:build linux

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// labProc is a linkmesh process in a lab host that a test may kill -9 and start
// again. Its output goes to a log file whose tail is printed when the test fails.
type labProc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// startLabProc starts bin in h; cleanup stops it (SIGTERM, then SIGKILL after 5 s)
// if it is still running.
func startLabProc(t *testing.T, h *netlab.Host, name, bin string, args ...string) *labProc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s in %s: %v", name, h.Name(), err)
	}
	p := &labProc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Errorf("%s (pid %d) did not stop within 5 s of SIGTERM; killing it", name, cmd.Process.Pid)
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("--- last lines of %s log ---\n%s", name, tail(logPath, 40))
		}
	})
	return p
}

// kill9 kills the process with SIGKILL (no cleanup of its own can run) and
// waits until it is reaped.
func (p *labProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (pid %d): %v", p.name, p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s (pid %d) not reaped 10 s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// tlsLab is the lab with certificates from `linkmesh certs` and the settings
// the durability scenarios share.
type tlsLab struct {
	lab      *netlab.Lab
	bin      string
	pki      string // directory of ca.crt, coord.*, sql1.*, mi1.*
	stateDir string
	client   *http.Client // dials from the router namespace
}

const (
	labProbeMetrics = 9023
	// fastPolicy: both directions between the responders every 100 ms: 10
	// results/s per probe.
	fastPolicy = `
defaults: {interval: 100ms, timeout: 80ms}
stale_after: 5s
paths:
  - {name: sql-mi, from: {site: sql}, to: {site: mi}}
  - {name: mi-sql, from: {site: mi}, to: {site: sql}}
`
	// idlePolicy selects no probe: a probe that gets it stops probing, so its
	// attempt counters stand still and can be compared with the coordinator's.
	idlePolicy = `
paths:
  - {name: nobody, from: {site: nowhere}, to: {site: nowhere}}
`
)

func newTLSLab(t *testing.T) *tlsLab {
	t.Helper()
	lab := netlab.New(t)
	l := &tlsLab{
		lab: lab, bin: netlab.BuildLinkmesh(t), pki: t.TempDir(), stateDir: filepath.Join(t.TempDir(), "state"),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: lab.Router().DialContext, DisableKeepAlives: true}},
	}
	router := lab.Router()
	sans := router.AddrToward(lab.SQL()).String() + "," + router.AddrToward(lab.MI()).String()
	for _, args := range [][]string{
		{"certs", "ca", "--dir", l.pki},
		{"certs", "server", "--dir", l.pki, "--name", "coord", "--san", sans},
		{"certs", "probe", "--dir", l.pki, "--name", "sql1", "--site", "sql"},
		{"certs", "probe", "--dir", l.pki, "--name", "mi1", "--site", "mi"},
	} {
		if out, err := exec.Command(l.bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("linkmesh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return l
}

// startCoordinator starts the coordinator in the router with policy, TLS and
// the state directory, and waits until it is ready.
func (l *tlsLab) startCoordinator(t *testing.T, policy string) *labProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "coordinator.yaml")
	body := fmt.Sprintf("name: lab\nlisten: {grpc: \":%d\", http: \":%d\"}\ngossip: {disabled: true}\ntls: {ca: %s, cert: %s, key: %s}\nstate: {dir: %s}\n%s",
		labGRPC, labHTTP, filepath.Join(l.pki, "ca.crt"), filepath.Join(l.pki, "coord.crt"), filepath.Join(l.pki, "coord.key"), l.stateDir, policy)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startLabProc(t, l.lab.Router(), "coordinator", l.bin, "coordinator", "--config", cfg, "--log-level", "debug")
	waitHTTPOK(t, l.client, l.coordURL("/readyz"), 15*time.Second, "the coordinator")
	return p
}

func (l *tlsLab) coordURL(path string) string {
	return fmt.Sprintf("http://%s%s", net.JoinHostPort(l.lab.Router().AddrToward(l.lab.SQL()).String(), fmt.Sprint(labHTTP)), path)
}

// startProbe starts probe name (sql1 or mi1) in its host with its certificate,
// its own /metrics, and extra flags.
func (l *tlsLab) startProbe(t *testing.T, h *netlab.Host, name, site string, extra ...string) *labProc {
	t.Helper()
	coord := net.JoinHostPort(l.lab.Router().AddrToward(h).String(), fmt.Sprint(labGRPC))
	args := append([]string{"probe", "--name", name, "--site", site, "--coordinator", coord,
		"--responder", fmt.Sprintf(":%d", labResponder), "--metrics", fmt.Sprintf(":%d", labProbeMetrics),
		"--tls-ca", filepath.Join(l.pki, "ca.crt"), "--tls-cert", filepath.Join(l.pki, name+".crt"), "--tls-key", filepath.Join(l.pki, name+".key"),
		"--no-gossip", "--plan-cache", "off", "--log-level", "debug"}, extra...)
	return startLabProc(t, h, name, l.bin, args...)
}

func (l *tlsLab) probeURL(h *netlab.Host) string {
	return fmt.Sprintf("http://%s/metrics", net.JoinHostPort(h.Addr().String(), fmt.Sprint(labProbeMetrics)))
}

// poll scrapes the coordinator and the given probes until cond holds.
func (l *tlsLab) poll(t *testing.T, timeout time.Duration, what string, hosts []*netlab.Host, cond func(coord series, probes []series) error) (series, []series) {
	t.Helper()
	var last error
	var c series
	var ps []series
	if waitfor.PollEvery(timeout, 200*time.Millisecond, func() bool {
		// A coordinator that is down scrapes as nil; cond decides whether it matters.
		var cerr error
		c, cerr = scrapeWith(l.client, l.coordURL("/metrics"))
		ps = make([]series, len(hosts))
		var err error
		for i, h := range hosts {
			if err == nil {
				ps[i], err = scrapeWith(l.client, l.probeURL(h))
			}
		}
		if err == nil {
			if err = cond(c, ps); err == nil {
				return true
			}
			if cerr != nil {
				err = fmt.Errorf("%w (coordinator: %v)", err, cerr)
			}
		}
		last = err
		return false
	}) {
		return c, ps
	}
	t.Fatalf("after %v: %s: %v", timeout, what, last)
	return nil, nil
}
