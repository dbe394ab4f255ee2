package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/linkmesh/linkmesh/internal/tlsconf"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// coordinatorFlags are the flags of check's coordinated mode.
type coordinatorFlags struct {
	addr, probe, peer, sqlHost, serverName string
	standIn, insecure                      bool
	tls                                    tlsFlags
}

// creds returns the gRPC credentials and the probe name the check speaks
// for: --probe, else (with a probe's certificate) the name in --tls-cert,
// else (--insecure) this host's name. An operator's certificate (linkmesh
// certs operator) runs rounds for the probe --probe names; a probe's own
// certificate only for itself, and only when the coordinator's
// check_rounds.allow_probes names it.
func (f *coordinatorFlags) creds() (credentials.TransportCredentials, string, error) {
	probe := f.probe
	switch {
	case f.insecure && !f.tls.empty():
		return nil, "", errors.New("--insecure and --tls-* exclude each other; drop one")
	case f.insecure:
		if probe == "" {
			probe, _ = os.Hostname()
		}
		return insecure.NewCredentials(), probe, nil
	}
	if err := f.tls.files().Check("--tls-"); err != nil {
		return nil, "", fmt.Errorf("--coordinator: %w (an operator's certificate: linkmesh certs operator --name NAME), or pass --insecure for a coordinator without TLS", err)
	}
	src, err := tlsconf.NewSource(f.tls.files(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, "", err
	}
	id, err := tlsconf.CertIdentity(src.Current().Leaf)
	if err != nil {
		return nil, "", fmt.Errorf("--tls-cert %s: %w; use an operator's certificate (linkmesh certs operator --name NAME)", f.tls.cert, err)
	}
	switch {
	case id.Role == tlsconf.RoleOperator && probe == "":
		return nil, "", fmt.Errorf("--tls-cert %s is operator %s's certificate: name the probe on the SQL Server host with --probe", f.tls.cert, id.Name)
	case id.Role == tlsconf.RoleOperator:
	case probe == "":
		probe = id.Name
	case id.Name != probe:
		return nil, "", fmt.Errorf("--tls-cert %s is for probe %q, but --probe is %q: a probe's certificate runs rounds only for itself; use an operator's certificate (linkmesh certs operator --name NAME)", f.tls.cert, id.Name, probe)
	}
	return tlsconf.ClientCredentials(src, f.serverName), probe, nil
}

// dialCoordinator connects to the coordinator and waits until the connection
// is up, so an unreachable coordinator or a TLS mistake is a one-line error
// before any check runs.
func dialCoordinator(ctx context.Context, addr string, creds credentials.TransportCredentials, timeout time.Duration) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("--coordinator %q: %w", addr, err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return conn, nil
		}
		if !conn.WaitForStateChange(wctx, s) {
			break
		}
	}
	conn.Close()
	// Say why, in the words of the layer that failed.
	c, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the coordinator at %s: %w (is it running, and is its gRPC port open from this host?)", addr, err)
	}
	c.Close()
	return nil, fmt.Errorf("the coordinator at %s accepts TCP connections, but gRPC did not come up within %s: check --tls-ca, --tls-cert and --tls-key (the mesh CA, and an operator's certificate from it), or --insecure for a coordinator without TLS", addr, timeout)
}

// roundFunc returns the function that asks the coordinator for the round.
func roundFunc(conn *grpc.ClientConn, req *linkmeshv1.RunCheckRequest) func(ctx context.Context, progress func(string)) (*linkmeshv1.CheckRound, error) {
	return func(ctx context.Context, progress func(string)) (*linkmeshv1.CheckRound, error) {
		stream, err := linkmeshv1.NewMeshServiceClient(conn).RunCheck(ctx, req)
		if err != nil {
			return nil, roundError(err)
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, errors.New("the coordinator ended the round without its results")
				}
				return nil, roundError(err)
			}
			if p := resp.GetProgress(); p != "" {
				progress(p)
			}
			if rd := resp.GetRound(); rd != nil {
				return rd, nil
			}
		}
	}
}

// roundError turns the coordinator's refusal into a sentence with what to do.
func roundError(err error) error {
	st := status.Convert(err)
	msg := st.Message()
	switch st.Code() {
	case codes.Unimplemented:
		return fmt.Errorf("the coordinator runs an older linkmesh without check rounds: upgrade it (%s)", msg)
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("the coordinator refused the round: %s", msg)
	case codes.ResourceExhausted:
		return fmt.Errorf("the coordinator refused the round: %s", msg)
	case codes.Unavailable:
		return fmt.Errorf("the coordinator is unavailable: %s", msg)
	}
	return errors.New(msg)
}
