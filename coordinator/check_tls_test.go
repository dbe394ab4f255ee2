package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCheckRoundIdentity: under mTLS a round speaks for the probe its
// caller's certificate names, and it is no plan stream: a probe at its
// max_plan_streams_per_probe may still run one.
func TestCheckRoundIdentity(t *testing.T) {
	dir := t.TempDir()
	const year = 365 * 24 * time.Hour
	ca, caPair, err := pki.NewCA("test CA", year)
	if err != nil {
		t.Fatal(err)
	}
	files := func(name string) tlsconf.Files {
		return tlsconf.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}
	}
	write := func(name string, p pki.Pair, err error) {
		t.Helper()
		if err == nil {
			err = p.Write(files(name).Cert, files(name).Key, true)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	write("ca", caPair, caPair.Write(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), true))
	p, err := ca.IssueServer("coord", []string{"127.0.0.1"}, year)
	write("coord", p, err)
	for _, n := range []string{"sql1", "sql2"} {
		p, err := ca.IssueProbe(n, year)
		write(n, p, err)
	}
	server := files("coord")
	s := runServer(t, fmt.Sprintf(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
tls: {ca: %q, cert: %q, key: %q}
limits: {max_plan_streams_per_probe: 1}
paths:
  - {from: {site: sql}, to: {site: mi}}
`, server.CA, server.Cert, server.Key), fastChecks)
	client := func(name string) linkmeshv1.MeshServiceClient {
		src, err := tlsconf.NewSource(files(name), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return dial(t, s.GRPCAddr().String(), grpc.WithTransportCredentials(tlsconf.ClientCredentials(src, "")))
	}
	sql1 := client("sql1")
	startProbe(t, s, sql1, "sql1", "sql", "127.0.0.1:5023", nil) // holds sql1's one plan stream

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		name   string
		client linkmeshv1.MeshServiceClient
		probe  string
		code   codes.Code
		want   string
	}{
		{"another probe's certificate", client("sql2"), "sql1", codes.PermissionDenied, `this certificate is for probe "sql2", the request claims "sql1"`},
		// Admitted: refused by the round itself, for want of a peer.
		{"its own certificate", sql1, "sql1", codes.FailedPrecondition, "no probe of another site is connected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCheck(ctx, tt.client, &linkmeshv1.RunCheckRequest{Probe: tt.probe})
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %v with %q", err, tt.code, tt.want)
			}
		})
	}
}
