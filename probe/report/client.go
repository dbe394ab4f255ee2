package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Timing of the conversation with a coordinator.
const (
	// Heartbeat: a probe with nothing to report still reports this often, so the
	// coordinator can tell a quiet probe from a dead one.
	Heartbeat = 10 * time.Second
	// flushDelay gathers results that arrive together into one batch.
	flushDelay = 100 * time.Millisecond
	// callTimeout bounds one Register or Report call.
	callTimeout = 10 * time.Second
	// MaxBatch is the most results sent in one Report.
	MaxBatch    = 500
	minBackoff  = 500 * time.Millisecond
	maxBackoff  = 30 * time.Second
	maxMsgBytes = 4 << 20
)

// errReregister: the coordinator asked the probe to register again.
var errReregister = errors.New("coordinator asked the probe to register again")

// Client talks to one coordinator on behalf of the probe.
type Client struct {
	// Address is the coordinator's gRPC address (host:port).
	Address string
	// Creds secures the connection (insecure.NewCredentials() only when asked for).
	Creds credentials.TransportCredentials
	// Info describes the probe (Register sends it).
	Info *linkmeshv1.ProbeInfo
	// Buffer holds the probe's results.
	Buffer *Buffer
	// Plans receives every plan this coordinator sends.
	Plans chan<- *linkmeshv1.Plan
	// Logger is scoped to this coordinator by the caller.
	Logger *slog.Logger
	// MemberRTTs, if set, returns the probe's latest gossip ping round trips,
	// sent with every report.
	MemberRTTs func() []*linkmeshv1.MemberRTT
	// OnRegistered, if set, is told the coordinator's name after each Register.
	OnRegistered func(coordinator string)
	// StandIns, if set, returns the state of the probe's stand-in endpoints;
	// every report carries it.
	StandIns func() []*linkmeshv1.StandInStatus
	// StandInsChanged, if set, returns a channel closed when that state next
	// changes, so the change is reported at once rather than with the next
	// heartbeat.
	StandInsChanged func() <-chan struct{}
}

// Run keeps the probe registered with the coordinator, follows its plan stream and
// sends results until ctx is done. The caller joins the coordinator to the buffer
// (Buffer.Join(Address, 0)) before starting Run, so no result recorded meanwhile
// is trimmed before this coordinator has it. A failing coordinator is retried with jittered
// exponential backoff; its failures are logged once per change of reason.
func (c *Client) Run(ctx context.Context) error {
	conn, err := grpc.NewClient(c.Address,
		grpc.WithTransportCredentials(c.Creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgBytes)),
	)
	if err != nil {
		return fmt.Errorf("coordinator %s: %w", c.Address, err)
	}
	defer conn.Close()
	api := linkmeshv1.NewMeshServiceClient(conn)

	backoff := minBackoff
	var lastErr string
	var lastReregister time.Time
	for ctx.Err() == nil {
		connected := false
		err := c.session(ctx, api, func() {
			connected = true
			backoff = minBackoff
			if lastErr != "" {
				c.Logger.Info("coordinator reachable again")
			} else {
				c.Logger.Info("connected to coordinator")
			}
			lastErr = ""
		})
		if ctx.Err() != nil {
			return nil
		}
		if msg := err.Error(); msg != lastErr {
			c.Logger.Warn("coordinator unavailable; probing goes on and results are kept for it", "error", msg)
			lastErr = msg
		}
		if connected && errors.Is(err, errReregister) && time.Since(lastReregister) > maxBackoff {
			// One immediate retry; a coordinator that keeps asking (two probes
			// with one name?) gets the backoff below.
			lastReregister = time.Now()
			continue
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, maxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return nil
}

// session registers, then runs the plan stream and the sender until one fails.
func (c *Client) session(ctx context.Context, api linkmeshv1.MeshServiceClient, onUp func()) error {
	rctx, cancel := context.WithTimeout(ctx, callTimeout)
	resp, err := api.Register(rctx, &linkmeshv1.RegisterRequest{Probe: c.Info})
	cancel()
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	c.Buffer.Join(c.Address, resp.GetAckedSeq())
	if c.OnRegistered != nil {
		c.OnRegistered(resp.GetCoordinator())
	}
	onUp()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.watchPlan(gctx, api) })
	g.Go(func() error { return c.send(gctx, api, resp.GetAckedSeq()) })
	return g.Wait()
}

func (c *Client) watchPlan(ctx context.Context, api linkmeshv1.MeshServiceClient) error {
	stream, err := api.WatchPlan(ctx, &linkmeshv1.WatchPlanRequest{Probe: c.Info.GetName()})
	if err != nil {
		return fmt.Errorf("watch plan: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("plan stream: %w", err)
		}
		select {
		case c.Plans <- resp.GetPlan():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// send delivers batches after acked, and a heartbeat when there is nothing new.
func (c *Client) send(ctx context.Context, api linkmeshv1.MeshServiceClient, acked uint64) error {
	heartbeat := time.NewTimer(0) // report at once: the coordinator learns we are alive
	defer heartbeat.Stop()
	for {
		added := c.Buffer.Added()
		var standInsChanged <-chan struct{} // nil: never ready
		if c.StandInsChanged != nil {
			standInsChanged = c.StandInsChanged()
		}
		batch := c.Buffer.Since(acked, MaxBatch)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-heartbeat.C:
			case <-standInsChanged:
			case <-added:
				if err := sleepCtx(ctx, flushDelay); err != nil {
					return err
				}
				continue
			}
		}
		req := &linkmeshv1.ReportRequest{
			Probe:        c.Info.GetName(),
			Epoch:        c.Info.GetEpoch(),
			Results:      batch,
			DroppedTotal: c.Buffer.Dropped(),
			StandIns:     c.standIns(),
		}
		if c.MemberRTTs != nil {
			req.MemberRtts = c.MemberRTTs()
		}
		rctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := api.Report(rctx, req)
		cancel()
		if status.Code(err) == codes.InvalidArgument && len(batch) > 0 {
			// The coordinator will never take this batch: skip it rather than
			// block every later result behind it.
			last := batch[len(batch)-1].GetSeq()
			c.Logger.Error("coordinator refused a batch as invalid; skipping it (please report this as a bug)",
				"error", err, "first_seq", batch[0].GetSeq(), "last_seq", last)
			acked = max(acked, last)
			c.Buffer.Ack(c.Address, acked)
			continue
		}
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if resp.GetReregister() {
			return errReregister
		}
		acked = max(acked, resp.GetAckedSeq())
		c.Buffer.Ack(c.Address, acked)
		heartbeat.Reset(Heartbeat)
	}
}

func (c *Client) standIns() []*linkmeshv1.StandInStatus {
	if c.StandIns == nil {
		return nil
	}
	return c.StandIns()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
