package check

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

func loopbackConfig(t *testing.T, miPort uint16) Config {
	return Config{
		MI: "sqlmi1.lab.database.windows.net", MIPort: miPort, HADRPorts: DefaultHADRPorts, HADRSample: 4,
		Timeout:  2 * time.Second,
		Resolver: resolver(t, map[string][]netip.Addr{"sqlmi1.lab.database.windows.net": addrs("127.0.0.1")}),
	}
}

// TestP1 connects to real loopback sockets: a listener passes, a closed port
// fails as refused with a fix.
func TestP1(t *testing.T) {
	o := newNetwork(loopbackConfig(t, listen(t))).p1(t.Context())
	if o.Status != Pass || o.Result != "ok" || !strings.HasPrefix(o.Measured, "connected") {
		t.Errorf("listener: %+v, want pass ok connected", o)
	}
	o = newNetwork(loopbackConfig(t, closedPort(t))).p1(t.Context())
	if o.Status != Fail || o.Result != "refused" || o.Fix == nil || !strings.Contains(o.Reason, "nothing listens") {
		t.Errorf("closed port: %+v, want fail refused with a fix", o)
	}
}

// TestP1NeverDialsPublic: a public answer for the MI's name is D1's failure;
// P1 does not connect to it.
func TestP1NeverDialsPublic(t *testing.T) {
	cfg := loopbackConfig(t, 5022)
	cfg.Resolver = resolver(t, map[string][]netip.Addr{cfg.MI: addrs("203.0.113.10")})
	o := newNetwork(cfg).p1(t.Context())
	if o.Status != Skip || !strings.Contains(o.Reason, "does not connect") || !strings.Contains(o.Reason, "see D1") {
		t.Errorf("public answer: %+v, want skip pointing at D1", o)
	}
	cfg.MI = "203.0.113.10" // given by the user: no D1 to point at
	o = newNetwork(cfg).p1(t.Context())
	if o.Status != Fail || !strings.Contains(o.Reason, "is a public address") {
		t.Errorf("public --mi: %+v, want fail", o)
	}
	cfg.Resolver = resolver(t, nil)
	cfg.MI = "sqlmi1.lab.database.windows.net"
	if o := newNetwork(cfg).p1(t.Context()); o.Status != Skip || !strings.Contains(o.Reason, "does not resolve") {
		t.Errorf("no such name: %+v, want skip pointing at D1", o)
	}
}

func testPaths() paths {
	return paths{SQLHost: "198.18.1.2/32", MISubnet: "10.0.1.0/24", MIAddr: "10.0.1.254"}
}

// TestP1Outcome maps each attempt result to the row, and the fix has the exact
// commands with the direction, ports and prefixes filled in.
func TestP1Outcome(t *testing.T) {
	dst := netip.MustParseAddrPort("10.0.1.254:5022")
	tests := []struct {
		res      attempt.Result
		status   Status
		measured string
		commands []string
	}{
		{attempt.Result{Code: attempt.OK, RTT: 12 * time.Millisecond, RTTSource: attempt.RTTKernel}, Pass, "connected in 12 ms (kernel RTT)", nil},
		{attempt.Result{Code: attempt.OK, RTT: time.Second, RTTSource: attempt.RTTConnect, SYNRetransmits: 1}, Pass, "1 SYN retransmitted", nil},
		{attempt.Result{Code: attempt.Timeout}, Fail, "no answer within 5s", []string{
			"az network nsg rule create --resource-group <mi-resource-group> --nsg-name <mi-subnet-nsg> --name allow-mi-link-from-sql-host --priority 1000 --direction Inbound --access Allow --protocol Tcp --source-address-prefixes 198.18.1.2/32 --destination-address-prefixes 10.0.1.0/24 --destination-port-ranges 5022 11000-11999",
			`New-NetFirewallRule -DisplayName "MI link to MI (TCP 5022, 11000-11999)" -Direction Outbound -Protocol TCP -RemotePort 5022,11000-11999 -RemoteAddress 10.0.1.0/24 -Action Allow`,
			"Find-NetRoute -RemoteIPAddress 10.0.1.254",
		}},
		{attempt.Result{Code: attempt.Unreachable}, Fail, "unreachable (ICMP)", []string{"Find-NetRoute -RemoteIPAddress 10.0.1.254"}},
		{attempt.Result{Code: attempt.Refused}, Fail, "refused", nil},
		{attempt.Result{Code: attempt.Reset, Detail: "read: connection reset by peer"}, Fail, "reset", nil},
	}
	for _, tt := range tests {
		t.Run(tt.res.Code.String(), func(t *testing.T) {
			o := p1Outcome(tt.res, dst, 5*time.Second, testPaths(), DefaultHADRPorts)
			if o.Status != tt.status || o.Result != tt.res.Code.String() || !strings.Contains(o.Measured, tt.measured) {
				t.Fatalf("got %s %q %q, want %s %q containing %q", o.Status, o.Result, o.Measured, tt.status, tt.res.Code, tt.measured)
			}
			if tt.status == Fail && (o.Fix == nil || o.Fix.For != ForNetwork || o.Fix.Summary == "") {
				t.Fatalf("fix %+v, want one for the network team", o.Fix)
			}
			var cmds []string
			if o.Fix != nil {
				for _, s := range o.Fix.Steps {
					cmds = append(cmds, s.Command)
				}
			}
			for _, want := range tt.commands {
				if !slices.Contains(cmds, want) {
					t.Errorf("fix commands %q\nlack %q", cmds, want)
				}
			}
		})
	}
}

// TestP2 samples a range of loopback ports where one listens: every port
// answers (open or refused), so P2 passes and says why a refusal counts.
func TestP2(t *testing.T) {
	port := listen(t)
	cfg := loopbackConfig(t, 5022)
	cfg.MINode = "127.0.0.1"
	cfg.HADRPorts = PortRange{port, min(port+2, 65535)}
	cfg.HADRSample = 3
	o := newNetwork(cfg).p2(t.Context())
	if o.Status != Pass || !strings.Contains(o.Measured, "open "+itoa(port)) {
		t.Fatalf("range with one listener: %+v, want pass with %d open", o, port)
	}
	if cfg.HADRPorts.Size() > 1 && !strings.Contains(o.Reason, "firewalls pass") {
		t.Errorf("reason %q, want it to say a refusal proves the firewalls pass", o.Reason)
	}

	cfg.MINodePort, cfg.HADRPorts = closedPort(t), PortRange{1, 65535}
	o = newNetwork(cfg).p2(t.Context())
	if o.Status != Pass || !strings.Contains(o.Measured, "refused") || !strings.Contains(o.Reason, "failover") {
		t.Errorf("given node port refused: %+v, want pass (reached) with the failover note", o)
	}
}

func TestP2Outcome(t *testing.T) {
	ok, refused, timeout := attempt.Result{Code: attempt.OK}, attempt.Result{Code: attempt.Refused}, attempt.Result{Code: attempt.Timeout}
	unreach := attempt.Result{Code: attempt.Unreachable}
	tests := []struct {
		name      string
		results   []attempt.Result
		nodeGiven bool
		status    Status
		result    string
		reason    string
	}{
		{"all refused", []attempt.Result{refused, refused, refused, refused}, true, Pass, "ok", "firewalls pass"},
		{"one open", []attempt.Result{ok, refused, refused, refused}, false, Pass, "ok", "firewalls pass"},
		{"part blocked", []attempt.Result{ok, refused, timeout, timeout}, true, Fail, "timeout", "part of 11000-11999 is blocked"},
		{"all dropped at a node", []attempt.Result{timeout, timeout, timeout, timeout}, true, Fail, "timeout", "drops the packets"},
		{"all dropped at the MI's address", []attempt.Result{timeout, timeout, timeout, timeout}, false, Skip, "timeout", "not conclusive"},
		{"unreachable", []attempt.Result{unreach, unreach, unreach, unreach}, true, Fail, "unreachable", "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := p2Outcome(p2Input{addr: netip.MustParseAddr("10.0.1.6"), ports: []uint16{11002, 11200, 11500, 11900},
				results: tt.results, rng: DefaultHADRPorts, nodeGiven: tt.nodeGiven, timeout: time.Second, paths: testPaths()})
			if o.Status != tt.status || o.Result != tt.result || !strings.Contains(o.Reason, tt.reason) {
				t.Fatalf("got %s %s %q, want %s %s containing %q", o.Status, o.Result, o.Reason, tt.status, tt.result, tt.reason)
			}
			if tt.status != Pass && (o.Fix == nil || !strings.Contains(o.Fix.Steps[0].Command, "--destination-port-ranges 11000-11999")) {
				t.Errorf("fix %+v, want the NSG rule for the HADR range", o.Fix)
			}
		})
	}
}

func TestSamplePorts(t *testing.T) {
	for _, tt := range []struct {
		r PortRange
		k int
	}{{DefaultHADRPorts, 4}, {PortRange{11000, 11002}, 8}, {PortRange{11002, 11002}, 1}, {DefaultHADRPorts, 64}} {
		got := samplePorts(tt.r, tt.k)
		if len(got) != min(tt.k, tt.r.Size()) || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("samplePorts(%v, %d) = %v: want %d distinct sorted ports", tt.r, tt.k, got, min(tt.k, tt.r.Size()))
		}
		for _, p := range got {
			if !tt.r.Contains(p) {
				t.Errorf("samplePorts(%v): %d outside the range", tt.r, p)
			}
		}
	}
}

// TestEP connects to SQL Server's endpoint on this host: a listener passes, a
// closed port says SQL Server is not listening and gives the DBA the T-SQL.
func TestEP(t *testing.T) {
	cfg := loopbackConfig(t, 5022)
	port := listen(t)
	cfg.SQLEndpoint = "127.0.0.1:" + itoa(port)
	if o := newNetwork(cfg).ep(t.Context()); o.Status != Pass {
		t.Errorf("listener: %+v, want pass", o)
	}
	port = closedPort(t)
	cfg.SQLEndpoint = "localhost:" + itoa(port)
	o := newNetwork(cfg).ep(t.Context())
	want := "SQL Server is not listening on " + itoa(port) + ": create the endpoint"
	if o.Status != Fail || o.Result != "refused" || !strings.Contains(o.Reason, want) {
		t.Fatalf("closed port: %+v, want fail saying %q", o, want)
	}
	if o.Fix == nil || o.Fix.For != ForDBA || !strings.Contains(o.Fix.Steps[1].Command, "LISTENER_PORT = "+itoa(port)) {
		t.Errorf("fix %+v, want the DBA's CREATE ENDPOINT on port %d", o.Fix, port)
	}
	if o := epOutcome(attempt.Result{Code: attempt.Timeout}, "127.0.0.1:5022", 5022, time.Second); o.Status != Fail || o.Fix == nil || o.Fix.For != ForSQLHost {
		t.Errorf("timeout: %+v, want fail for the host administrator", o)
	}
}

// TestStandalone runs the whole standalone list on loopback.
func TestStandalone(t *testing.T) {
	port := listen(t)
	cfg := loopbackConfig(t, port)
	cfg.MINode, cfg.MINodePort, cfg.HADRPorts = "127.0.0.1", port, PortRange{port, port}
	cfg.SQLEndpoint = "127.0.0.1:" + itoa(port)
	var progress strings.Builder
	rows := Run(t.Context(), Standalone(cfg), &progress)
	var ids []string
	got := map[string]Row{}
	for _, r := range rows {
		ids = append(ids, r.ID)
		got[r.ID] = r
	}
	if want := []string{"D1", "P1", "P2", "EP", "P3", "D2", "MTU", "BW"}; !slices.Equal(ids, want) {
		t.Fatalf("rows %v, want %v", ids, want)
	}
	// D1 fails: the lab's answer is loopback, which is not the MI.
	for id, want := range map[string]Status{"D1": Fail, "P1": Pass, "P2": Pass, "EP": Pass, "P3": Skip, "D2": Skip, "MTU": Skip, "BW": Skip} {
		if got[id].Status != want {
			t.Errorf("%s: %s (%s), want %s", id, got[id].Status, got[id].Reason, want)
		}
	}
	if !strings.HasPrefix(got["P3"].Reason, PeerNeeded) || !got["P3"].Required || got["D2"].Required {
		t.Errorf("P3 %+v D2 %+v: want skipped with PeerNeeded, P3 required, D2 not", got["P3"], got["D2"])
	}
	if strings.Count(progress.String(), "\n") < len(rows) {
		t.Errorf("progress %q: want a line per row", progress.String())
	}

	cfg.SQLEndpoint = ""
	for _, c := range Standalone(cfg) {
		if c.ID == "EP" && (c.Run != nil || !strings.Contains(c.Skip, "--sql-endpoint none")) {
			t.Errorf("EP without an endpoint: %+v, want skipped", c)
		}
	}
}

// TestNodeCheck: P2-node dials exactly the node and port read from the MI,
// by name through the resolver; a node that does not resolve fails with the
// DNS fix; a node that could not be read is not tested.
func TestNodeCheck(t *testing.T) {
	port := listen(t)
	cfg := loopbackConfig(t, 5022)
	cfg.Resolver = resolver(t, map[string][]netip.Addr{"db123.tr1.lab.worker.database.windows.net": addrs("127.0.0.1")})
	node := func(host string, port uint16, err error) func(context.Context) (string, uint16, error) {
		return func(context.Context) (string, uint16, error) { return host, port, err }
	}
	o := NodeCheck(cfg, node("db123.tr1.lab.worker.database.windows.net", port, nil)).Run(t.Context())
	if o.Status != Pass || !strings.Contains(o.Measured, "db123.tr1.lab.worker.database.windows.net (127.0.0.1) open "+itoa(port)) {
		t.Errorf("listening node: %+v", o)
	}
	o = NodeCheck(cfg, node("unknown.worker.database.windows.net", port, nil)).Run(t.Context())
	if o.Status != Fail || o.Result != "dns" || o.Fix == nil {
		t.Errorf("unresolvable node: %+v", o)
	}
	o = NodeCheck(cfg, node("", 0, errors.New("no login"))).Run(t.Context())
	if o.Status != Skip || !strings.Contains(o.Reason, "see mi.node") {
		t.Errorf("unread node: %+v", o)
	}
}
