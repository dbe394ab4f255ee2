package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/loadgen"
	"github.com/linkmesh/linkmesh/internal/pki"
	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
)

// BenchmarkIngest is the coordinator's ingest over real gRPC: 100 synthetic
// probes (internal/loadgen) each reporting 1,000-result batches as fast as
// the coordinator acknowledges them, counted by what it acknowledged as
// counted. Client and coordinator share the machine's cores, as in the
// issue's measurement. It reports results/s.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 1x -count 3 ./coordinator/
func BenchmarkIngest(b *testing.B) {
	const limits = "limits: {results_per_second_per_probe: 10000000, max_paths_per_probe: 1000}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n"
	for _, tc := range []struct {
		name       string
		tls, state bool
	}{
		{"insecure", false, false},
		{"insecure+statedir", false, true},
		{"mtls+statedir", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := "listen: {grpc: \"127.0.0.1:0\", http: \"127.0.0.1:0\"}\ngossip: {disabled: true}\n" + limits
			if tc.state {
				cfg += fmt.Sprintf("state: {dir: %q}\n", b.TempDir())
			}
			var conn func(int, *linkmeshv1.ProbeInfo) grpc.ClientConnInterface
			var s *Server
			if tc.tls {
				dir := b.TempDir()
				ca := issueBenchCA(b, dir)
				cfg += fmt.Sprintf("tls: {ca: %q, cert: %q, key: %q}\n", filepath.Join(dir, "ca.crt"), filepath.Join(dir, "coord.crt"), filepath.Join(dir, "coord.key"))
				s = runServerWith(b, cfg, Options{}, nil)
				conn = func(_ int, info *linkmeshv1.ProbeInfo) grpc.ClientConnInterface {
					name := info.GetName()
					p, err := ca.IssueProbeSite(name, info.GetSite(), time.Hour)
					if err == nil {
						err = p.Write(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), true)
					}
					if err != nil {
						b.Fatal(err)
					}
					src, err := tlsconf.NewSource(tlsconf.Files{CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")},
						slog.New(slog.NewTextHandler(io.Discard, nil)))
					if err != nil {
						b.Fatal(err)
					}
					return dialConn(b, s.GRPCAddr().String(), grpc.WithTransportCredentials(tlsconf.ClientCredentials(src, "")))
				}
			} else {
				// One connection per probe, as real probes have: the coordinator
				// allows 8 streams per connection (maxConcurrentStreams).
				s = runServer(b, cfg, nil)
				conn = func(int, *linkmeshv1.ProbeInfo) grpc.ClientConnInterface { return dialConn(b, s.GRPCAddr().String()) }
			}
			var rate float64
			for i := 0; b.Loop(); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				out, err := loadgen.Run(ctx, loadgen.Config{Conn: conn, Probes: 100, Batch: 1000, Targets: 100, Results: 50_000,
					Name: fmt.Sprintf("bench-%d", i)})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if out.Counted != 100*50_000 {
					b.Fatalf("counted %d, want %d", out.Counted, 100*50_000)
				}
				rate = out.Rate()
			}
			b.ReportMetric(rate/1e6, "M-results/s")
		})
	}
}

// issueBenchCA writes a CA and the coordinator's certificate into dir.
func issueBenchCA(b *testing.B, dir string) *pki.CA {
	b.Helper()
	ca, caPair, err := pki.NewCA("bench CA", time.Hour)
	if err == nil {
		err = caPair.Write(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), true)
	}
	if err != nil {
		b.Fatal(err)
	}
	p, err := ca.IssueServer("coord", []string{"127.0.0.1"}, time.Hour)
	if err == nil {
		err = p.Write(filepath.Join(dir, "coord.crt"), filepath.Join(dir, "coord.key"), true)
	}
	if err != nil {
		b.Fatal(err)
	}
	return ca
}
