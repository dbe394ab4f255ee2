package check

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// TestRowsAcceptThenReset: P1, P2 with an explicit node, and EP connect with
// the tcp kind to a real loopback listener that accepts and at once resets
// (SO_LINGER 0). Every time (on loopback the RST races the connect call, so the
// rows run many times), each row fails with reset and says what it means; a
// healthy listener on the same host passes.
func TestRowsAcceptThenReset(t *testing.T) {
	const runs = 20
	bad, good := listenThenReset(t), listen(t)
	for i := range runs {
		cfg := loopbackConfig(t, bad)
		cfg.MINode, cfg.MINodePort = "127.0.0.1", bad
		cfg.SQLEndpoint = "127.0.0.1:" + itoa(bad)
		n := newNetwork(cfg)
		rows := map[string]Outcome{"P1": n.p1(t.Context()), "P2": n.p2(t.Context()), "EP": n.ep(t.Context())}
		for id, o := range rows {
			if o.Status != Fail || o.Result != "reset" || o.Fix == nil {
				t.Fatalf("run %d, %s against an accept-then-reset listener: %s %s %q, want fail reset with a fix", i, id, o.Status, o.Result, o.Reason)
			}
		}
		if o := rows["P1"]; o.Measured != "accepted, then reset" || !strings.Contains(o.Reason, "a proxy or firewall in the path, or the endpoint refusing this host") {
			t.Errorf("run %d, P1: %q / %q, want it measured as accepted, then reset, and the cause named", i, o.Measured, o.Reason)
		}
		if o := rows["P2"]; !strings.Contains(o.Measured, "accepted, then reset "+itoa(bad)) || !strings.Contains(o.Reason, "accepted the connection and at once cut it") {
			t.Errorf("run %d, P2: %q / %q, want the port listed as accepted, then reset", i, o.Measured, o.Reason)
		}
		if o := rows["EP"]; o.Fix.For != ForSQLHost || !strings.Contains(o.Reason, "accepts connections and at once cuts them") {
			t.Errorf("run %d, EP: %q with a fix for %s, want it to say the port cuts connections, fixed on the host", i, o.Reason, o.Fix.For)
		}
	}
	cfg := loopbackConfig(t, good)
	cfg.MINode, cfg.MINodePort = "127.0.0.1", good
	cfg.SQLEndpoint = "127.0.0.1:" + itoa(good)
	n := newNetwork(cfg)
	for id, o := range map[string]Outcome{"P1": n.p1(t.Context()), "P2": n.p2(t.Context()), "EP": n.ep(t.Context())} {
		if o.Status != Pass {
			t.Fatalf("%s against a healthy listener: %s %q, want pass", id, o.Status, o.Reason)
		}
	}
}

// TestOutcomesClosed: a FIN right after the handshake reads "accepted, then
// closed" in P1 and EP; P2 with a sampled range (no --mi-node) stays a warning.
func TestOutcomesClosed(t *testing.T) {
	closed := attempt.Result{Code: attempt.Reset, Detail: "accepted, then closed within 0.2 ms: a proxy or firewall in the path, or the endpoint refusing this client (connected in 0.1 ms)"}
	dst := netip.MustParseAddrPort("10.0.1.254:5022")
	if o := p1Outcome(closed, dst, time.Second, testPaths(), DefaultHADRPorts); o.Status != Fail || o.Measured != "accepted, then closed" || o.Fix.For != ForNetwork {
		t.Errorf("P1: %+v, want fail, accepted, then closed, for the network team", o)
	}
	if o := epOutcome(closed, "127.0.0.1:5022", 5022, time.Second); o.Status != Fail || o.Measured != "accepted, then closed" {
		t.Errorf("EP: %+v, want fail, accepted, then closed", o)
	}
	o := p2Outcome(p2Input{addr: netip.MustParseAddr("10.0.1.6"), ports: []uint16{11002, 11200},
		results: []attempt.Result{{Code: attempt.Refused}, closed}, rng: DefaultHADRPorts, timeout: time.Second, paths: testPaths()})
	if o.Status != Skip || o.Result != "reset" || !strings.Contains(o.Reason, "port 11200 accepted the connection") {
		t.Errorf("P2 sampled: %s %s %q, want skip (untested) reset naming port 11200", o.Status, o.Result, o.Reason)
	}
}
