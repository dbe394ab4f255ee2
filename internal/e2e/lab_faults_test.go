//go:build linux

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// labPolicy: both directions, each to the other probe's responder and to the plain
// listener on 5022 of the other probe's host; 1 s interval, 500 ms timeout.
const labPolicy = `
defaults: {interval: 1s, timeout: 500ms}
stale_after: 5s
paths:
  - {name: sql-mi-responder, from: {site: sql}, to: {site: mi}}
  - {name: mi-sql-responder, from: {site: mi}, to: {site: sql}}
  - {name: sql-mi-5022, from: {site: sql}, to: {site: mi, port: 5022}}
  - {name: mi-sql-5022, from: {site: mi}, to: {site: sql, port: 5022}}
`

type labPath struct {
	src, dst string
	port     int
}

func (p labPath) String() string { return fmt.Sprintf("%s→%s:%d", p.src, p.dst, p.port) }

var labPaths = []labPath{
	{"sql1", "mi1", labEndpoint}, {"mi1", "sql1", labEndpoint},
	{"sql1", "mi1", labResponder}, {"mi1", "sql1", labResponder},
}

// TestLabFaultsOnOneDirection injects each fault on one direction of one path and
// checks, on the coordinator's /metrics, that exactly that path reads down with
// the right result while the others (including the opposite direction) stay ok,
// and that removing the fault brings it back. It reports detection times.
func TestLabFaultsOnOneDirection(t *testing.T) {
	lab := netlab.New(t)
	m := newLabMesh(t, lab, labPolicy)
	m.wait(t, 20*time.Second, "all four paths up", func(s series) bool {
		for _, p := range labPaths {
			if v, ok := upValue(s, p.src, p.dst, p.port); !ok || v != 1 {
				return false
			}
		}
		return true
	})

	tests := []struct {
		name   string
		fault  netlab.Fault
		broken labPath
		result string
	}{
		{"drop sql→mi 5022", netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: labEndpoint}, labPath{"sql1", "mi1", labEndpoint}, "timeout"},
		{"drop mi→sql 5022", netlab.Fault{Kind: netlab.Drop, From: "mi", To: "sql", Port: labEndpoint}, labPath{"mi1", "sql1", labEndpoint}, "timeout"},
		{"reset sql→mi 5022", netlab.Fault{Kind: netlab.RejectReset, From: "sql", To: "mi", Port: labEndpoint}, labPath{"sql1", "mi1", labEndpoint}, "refused"},
		{"icmp host-unreachable sql→mi 5022", netlab.Fault{Kind: netlab.RejectICMP, ICMP: netlab.HostUnreachable, From: "sql", To: "mi", Port: labEndpoint}, labPath{"sql1", "mi1", labEndpoint}, "unreachable"},
		{"icmp admin-prohibited mi→sql 5022", netlab.Fault{Kind: netlab.RejectICMP, ICMP: netlab.AdminProhibited, From: "mi", To: "sql", Port: labEndpoint}, labPath{"mi1", "sql1", labEndpoint}, "unreachable"},
		{"icmp net-unreachable sql→mi 5023", netlab.Fault{Kind: netlab.RejectICMP, ICMP: netlab.NetUnreachable, From: "sql", To: "mi", Port: labResponder}, labPath{"sql1", "mi1", labResponder}, "unreachable"},
		{"icmp port-unreachable mi→sql 5023", netlab.Fault{Kind: netlab.RejectICMP, ICMP: netlab.PortUnreachable, From: "mi", To: "sql", Port: labResponder}, labPath{"mi1", "sql1", labResponder}, "refused"},
		{"drop mi→sql 5023", netlab.Fault{Kind: netlab.Drop, From: "mi", To: "sql", Port: labResponder}, labPath{"mi1", "sql1", labResponder}, "timeout"},
	}
	report(t, "", "| fault | broken path | result | break → up 0 | repair → up 1 |", "|---|---|---|---|---|")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := m.scrape(t)
			inj, err := lab.Inject(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			b := tt.broken
			after, detect := m.wait(t, 10*time.Second, fmt.Sprintf("%s up 0 with result %s", b, tt.result), func(s series) bool {
				v, ok := upValue(s, b.src, b.dst, b.port)
				return ok && v == 0 && resultCount(s, b.src, b.dst, b.port, tt.result) > resultCount(before, b.src, b.dst, b.port, tt.result)
			})
			// Let a few more attempts run on the other paths while the fault holds
			// (real processes in the lab: only real time passes there).
			time.Sleep(2 * time.Second)
			during := m.scrape(t)
			for _, p := range labPaths {
				if p == b {
					continue
				}
				if v, ok := upValue(during, p.src, p.dst, p.port); !ok || v != 1 {
					t.Errorf("%s (not faulted): linkmesh_path_up %v (present %v), want 1", p, v, ok)
				}
				if f0, f1 := failures(before, p.src, p.dst, p.port), failures(during, p.src, p.dst, p.port); f1 != f0 {
					t.Errorf("%s (not faulted): failed attempts went from %v to %v during the fault", p, f0, f1)
				}
			}
			for _, other := range []string{"ok", "timeout", "refused", "unreachable", "reset", "error"} {
				if other == tt.result || other == "ok" {
					continue
				}
				if n0, n1 := resultCount(before, b.src, b.dst, b.port, other), resultCount(during, b.src, b.dst, b.port, other); n1 != n0 {
					t.Errorf("%s: result %s went from %v to %v; want only %s", b, other, n0, n1, tt.result)
				}
			}
			_ = after
			if err := inj.Remove(); err != nil {
				t.Fatal(err)
			}
			_, recover := m.wait(t, 10*time.Second, fmt.Sprintf("%s up 1 after repair", b), func(s series) bool {
				v, ok := upValue(s, b.src, b.dst, b.port)
				return ok && v == 1
			})
			report(t, fmt.Sprintf("| %s | %s | %s | %.1f s | %.1f s |", tt.name, b, tt.result, detect.Seconds(), recover.Seconds()))
		})
	}
}
