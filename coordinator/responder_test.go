package coordinator

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// responderConfig is baseConfig without its loopback allowlist.
const responderConfig = `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
paths:
  - {from: {site: sql}, to: {site: mi}}
`

// dialFrom returns a client of s that connects from the local address from
// (any address of 127.0.0.0/8 is the loopback interface's on Linux).
func dialFrom(t *testing.T, s *Server, from string) linkmeshv1.MeshServiceClient {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return dial(t, s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}))
}

// registerAt registers probe name with a responder address and returns the
// address the coordinator answered with, or the error.
func registerAt(api linkmeshv1.MeshServiceClient, name, responder string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: name, Site: "sql", Epoch: 1, ResponderAddress: responder}})
	return resp.GetResponderAddress(), err
}

// wantRefused checks a refused registration's status: its code, and that it
// names the field and the fix.
func wantRefused(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("%s: %v; want %v", what, err, code)
		return
	}
	for _, w := range append([]string{"probe.responder_address", "--advertise", "responder_cidrs"}, words...) {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Errorf("%s: the error does not say %q: %v", what, w, err)
		}
	}
}

// TestRegisterResponderAddressMustMatchPeer: a probe may register only a
// responder on the address it connects from (an empty or unspecified host is
// filled with it). Another address, or a host name, is refused with an error
// that names the field and the fix, counted, and leaves the registered
// address as it was.
func TestRegisterResponderAddressMustMatchPeer(t *testing.T) {
	s := runServer(t, responderConfig, nil)
	api := dialFrom(t, s, "127.0.0.1")
	other := dialFrom(t, s, "127.0.0.2")
	for _, c := range []struct {
		api             linkmeshv1.MeshServiceClient
		responder, want string
	}{
		{api, "127.0.0.1:5023", "127.0.0.1:5023"},
		{api, ":5023", "127.0.0.1:5023"},
		{api, "0.0.0.0:5023", "127.0.0.1:5023"},
		{api, "", ""},
		{other, "127.0.0.2:6000", "127.0.0.2:6000"}, // the port is the probe's to say
		{other, ":5023", "127.0.0.2:5023"},
	} {
		got, err := registerAt(c.api, "sql1", c.responder)
		if err != nil || got != c.want {
			t.Errorf("register with responder %q: got %q, %v; want %q", c.responder, got, err, c.want)
		}
	}
	if _, err := registerAt(api, "sql1", "127.0.0.1:5023"); err != nil {
		t.Fatal(err)
	}
	rejected := func() float64 { return testutil.ToFloat64(s.rejected.WithLabelValues(reasonResponder)) }
	_, err := registerAt(api, "sql1", "127.0.0.2:5023")
	wantRefused(t, "another loopback address", err, codes.PermissionDenied, "127.0.0.1")
	_, err = registerAt(other, "sql1", "127.0.0.1:5023")
	wantRefused(t, "the address of another probe's connection", err, codes.PermissionDenied, "127.0.0.2")
	_, err = registerAt(api, "sql1", "198.18.0.7:22")
	wantRefused(t, "any host:port", err, codes.PermissionDenied)
	_, err = registerAt(api, "sql1", "sql01.corp.example:5023")
	wantRefused(t, "a host name", err, codes.InvalidArgument, "host name")
	if n := rejected(); n != 4 {
		t.Errorf("requests_rejected_total{reason=%q} = %v; want 4", reasonResponder, n)
	}
	if p, ok := s.store.Lookup("sql1"); !ok || p.Info.GetResponderAddress() != "127.0.0.1:5023" {
		t.Errorf("after the refusals the registered responder is %q; want 127.0.0.1:5023 (unchanged)", p.Info.GetResponderAddress())
	}
	// A refused newcomer is not registered at all.
	if _, err := registerAt(api, "fake1", "198.18.0.7:5023"); status.Code(err) != codes.PermissionDenied || s.store.Known("fake1") {
		t.Errorf("a newcomer with a foreign responder: %v, known %v", err, s.store.Known("fake1"))
	}
}

// TestRegisterResponderCIDRAllowlist: a responder in responder_cidrs is
// accepted from any connection (NAT, several interfaces); outside them it is
// refused; a reload changes the list at once, and --check-config refuses a
// malformed entry with its line.
func TestRegisterResponderCIDRAllowlist(t *testing.T) {
	s := runServer(t, responderConfig+"responder_cidrs: [127.0.8.0/24, \"fd00::/64\"]\n", nil)
	api := dialFrom(t, s, "127.0.0.1")
	for _, r := range []string{"127.0.8.7:5023", "[fd00::9]:5023", "127.0.0.1:5023"} {
		if _, err := registerAt(api, "sql1", r); err != nil {
			t.Errorf("register %s with the allowlist: %v", r, err)
		}
	}
	_, err := registerAt(api, "sql1", "127.0.9.1:5023")
	wantRefused(t, "outside the allowlist", err, codes.PermissionDenied)
	_, err = registerAt(api, "sql1", "[fd00:0:0:1::9]:5023")
	wantRefused(t, "outside the allowlist (IPv6)", err, codes.PermissionDenied)

	cfg, err := config.Parse("test.yaml", []byte(responderConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	_, err = registerAt(api, "sql1", "127.0.8.7:5023")
	wantRefused(t, "after a reload without the allowlist", err, codes.PermissionDenied)

	_, err = config.Parse("test.yaml", []byte(responderConfig+"responder_cidrs: [127.0.8.0/24, 10.0.0.300/8]\n"))
	if err == nil || !strings.Contains(err.Error(), "responder_cidrs") || !strings.Contains(err.Error(), "10.0.0.300/8") || !strings.Contains(err.Error(), "test.yaml:6") {
		t.Errorf("a malformed CIDR: %v; want the file, line, field and entry", err)
	}
}
