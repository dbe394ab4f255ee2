//go:build linux

package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// TestLabResponderAddressRefused: the probe dr1 runs on the sql host and
// advertises mi1's responder address. Without responder_cidrs the
// coordinator refuses its registration (the host is not the address dr1
// connects from): dr1 is never a target, never a probe on /metrics, the
// refusal is counted, and dr1's log tells the operator what to fix. (With
// the lab network allowlisted, TestLabIdentityWrongAdvertise shows the echo
// hello catching the same mistake.)
func TestLabResponderAddressRefused(t *testing.T) {
	lab := netlab.New(t)
	m := startLabMesh(t, lab, `
defaults: {interval: 1s, timeout: 1s}
stale_after: 10s
paths:
  - {name: echo-mi, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-dr-from-sql, from: {site: sql}, to: {site: dr}, kind: echo, echo: {mtu_every: 0s}}
`, nil)
	sql, mi := lab.SQL(), lab.MI()
	wrong := net.JoinHostPort(mi.Addr().String(), fmt.Sprint(labResponder))
	coord := net.JoinHostPort(lab.Router().AddrToward(sql).String(), fmt.Sprint(labGRPC))
	dr := startLabProc(t, sql, "dr-probe", m.bin, "probe", "--name", "dr1", "--site", "dr",
		"--coordinator", coord, "--responder", ":5024", "--advertise", wrong,
		"--insecure", "--no-gossip", "--log-level", "debug",
		"--plan-cache", filepath.Join(m.dir, "dr-plan.pb"), "--mesh-key-file", m.key)

	m.wait(t, 30*time.Second, "dr1's registration refused and counted", func(s series) bool {
		return s.has("linkmesh_coordinator_requests_rejected_total", "reason", "responder_address")
	})
	waitEcho(t, m.paths, []echoWant{{"sql1", "mi1", "up", []string{"responder mi1 proved the mesh key"}}})
	paths, err := m.paths(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if p.Source == "dr1" || p.Target == "dr1" {
			t.Errorf("path %s → %s exists: a refused probe became a target", p.Source, p.Target)
		}
	}
	if s := m.scrape(t); len(s.find("linkmesh_probe_up", "probe", "dr1")) != 0 {
		t.Error("dr1 appears in linkmesh_probe_up: its registration was not refused")
	}
	if !waitfor.Poll(10*time.Second, func() bool {
		b, _ := os.ReadFile(dr.log)
		return strings.Contains(string(b), "responder_cidrs") && strings.Contains(string(b), "--advertise")
	}) {
		t.Fatalf("dr1's log does not say what to fix:\n%s", tail(dr.log, 20))
	}
	report(t, "dr1 advertised at mi1's responder "+wrong+" from the sql host: registration refused",
		lineWith(dr.log, "responder_cidrs"))
}

// lineWith is the last line of the file at path that contains word.
func lineWith(path, word string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], word) {
			return lines[i]
		}
	}
	return ""
}
