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
	"google.golang.org/grpc/backoff"
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
	// flushDelay gathers the results of half a second — two of the
	// scheduler's 250 ms slots — into one report: reports, not attempts, were
	// an eighth of a probe's CPU at 50 targets × 1/s with 100 ms, and a
	// result reaches the coordinator at most this much later
	// (docs/benchmarks.md#probe-footprint).
	flushDelay = 500 * time.Millisecond
	// callTimeout bounds one Register or Report call.
	callTimeout = 10 * time.Second
	// MaxBatch is the most results sent in one Report.
	MaxBatch = 500
	// maxBatchBytes keeps a batch well under the coordinator's 2 MiB message limit.
	maxBatchBytes = 1 << 20
	// ackPoll: while results are counted but not yet durable at the coordinator,
	// ask again this often so the buffer (and spool) can let them go.
	ackPoll = time.Second
	// DefaultReplayRate is the default pace (results per second) of sending to
	// one coordinator, which bounds how fast a backlog is replayed.
	DefaultReplayRate = 1000
	// maxRetryWait caps how long a coordinator's "retry after" is honoured.
	maxRetryWait = 30 * time.Second
	minBackoff   = 500 * time.Millisecond
	maxBackoff   = 10 * time.Second
	maxMsgBytes  = 4 << 20
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
	// ReplayRate bounds the results per second sent to this coordinator
	// (default DefaultReplayRate), so a coordinator returning from an outage is
	// not flattened by every probe's backlog at once.
	ReplayRate float64
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
		// gRPC's own reconnect backoff grows to 120 s by default: after a long
		// outage the coordinator would be back long before the probe tried
		// again. Cap it like the session backoff, so a returning coordinator
		// gets its probes (and their backlog) within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 1.6, Jitter: 0.2, MaxDelay: maxBackoff / 2},
			MinConnectTimeout: callTimeout,
		}),
	)
	if err != nil {
		return fmt.Errorf("coordinator %s: %w", c.Address, err)
	}
	defer conn.Close()
	api := linkmeshv1.NewMeshServiceClient(conn)

	backoff := minBackoff
	// lastErr is the failure logged during this outage ("": connected, or
	// never tried); lastCode its gRPC code.
	var lastErr string
	var lastCode codes.Code
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
		// One warning per outage and per kind of failure (its gRPC code): a
		// transport error's text varies from retry to retry (reset while
		// writing the preface, or while reading it), which is no news.
		switch msg, code := err.Error(), status.Code(err); {
		case lastErr == "" || code != lastCode:
			what := "coordinator unavailable"
			switch code {
			case codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.FailedPrecondition:
				what = "the coordinator refused this probe (the error says why)"
			}
			c.Logger.Warn(what+"; probing goes on and results are kept for it", "error", msg)
			lastErr, lastCode = msg, code
		case msg != lastErr:
			c.Logger.Debug("coordinator still unavailable", "error", msg)
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
	if skipped := c.Buffer.SkipPast(resp.GetReceivedSeq()); skipped > 0 {
		c.Logger.Error("the coordinator has counted sequence numbers this probe had not used yet: its spool lost its end unnoticed (a power cut, a restored copy?); numbering skips past them so later results are counted, and results this run numbered at or below them are lost to this coordinator",
			"coordinator_seq", resp.GetReceivedSeq(), "skipped", skipped, "epoch", c.Info.GetEpoch())
	}
	c.Buffer.Join(c.Address, resp.GetAckedSeq())
	if c.OnRegistered != nil {
		c.OnRegistered(resp.GetCoordinator())
	}
	onUp()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.watchPlan(gctx, api) })
	g.Go(func() error {
		return c.send(gctx, api, resp.GetAckedSeq(), max(resp.GetAckedSeq(), resp.GetReceivedSeq()))
	})
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

// send delivers batches after sent (what the coordinator has counted), paced by
// the replay rate, and a heartbeat when there is nothing new. It lets the buffer
// forget results only up to acked (what the coordinator holds durably), and asks
// again every ackPoll while the two differ.
func (c *Client) send(ctx context.Context, api linkmeshv1.MeshServiceClient, acked, sent uint64) error {
	rate := c.ReplayRate
	if rate <= 0 {
		rate = DefaultReplayRate
	}
	pace := newPacer(rate, MaxBatch)
	heartbeat := time.NewTimer(0) // report at once: the coordinator learns we are alive
	defer heartbeat.Stop()
	// standInsChanged is taken before each report takes the statuses, so a
	// change while the report is on its way closes the channel held here and
	// is reported next, not at the next heartbeat.
	var standInsChanged <-chan struct{} // nil: never ready
	for {
		added := c.Buffer.Added()
		batch := limitBytes(c.Buffer.Since(sent, MaxBatch), maxBatchBytes)
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
		if err := pace.wait(ctx, len(batch)); err != nil {
			return err
		}
		if c.StandInsChanged != nil {
			standInsChanged = c.StandInsChanged()
		}
		resp, err := c.report(ctx, api, batch)
		if status.Code(err) == codes.InvalidArgument && len(batch) > 0 {
			// The coordinator will never take this batch: skip it rather than
			// block every later result behind it. It is forgotten once the
			// coordinator's durable cursor passes it (with the next results).
			last := batch[len(batch)-1].GetSeq()
			c.Logger.Error("coordinator refused a batch as invalid; skipping it (please report this as a bug)",
				"error", err, "first_seq", batch[0].GetSeq(), "last_seq", last)
			sent = max(sent, last)
			continue
		}
		if err != nil {
			return err
		}
		if resp.GetReregister() {
			return errReregister
		}
		if len(batch) > 0 {
			sent = max(sent, batch[len(batch)-1].GetSeq())
		}
		sent = max(sent, resp.GetReceivedSeq())
		acked = max(acked, resp.GetAckedSeq())
		c.Buffer.Ack(c.Address, acked)
		if acked < sent {
			heartbeat.Reset(ackPoll)
		} else {
			heartbeat.Reset(Heartbeat)
		}
	}
}

// report sends one batch; when the coordinator says "too fast, retry after d"
// it waits d (at most maxRetryWait) and sends the same batch again. An
// InvalidArgument status is returned as it is, other errors wrapped.
func (c *Client) report(ctx context.Context, api linkmeshv1.MeshServiceClient, batch []*linkmeshv1.Result) (*linkmeshv1.ReportResponse, error) {
	for {
		req := &linkmeshv1.ReportRequest{
			Probe:        c.Info.GetName(),
			Epoch:        c.Info.GetEpoch(),
			Results:      batch,
			DroppedTotal: c.Buffer.Dropped(),
			StandIns:     c.standIns(),
			Backlog:      c.backlog(),
		}
		if c.MemberRTTs != nil {
			req.MemberRtts = c.MemberRTTs()
		}
		rctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := api.Report(rctx, req)
		cancel()
		if err == nil {
			return resp, nil
		}
		if status.Code(err) == codes.InvalidArgument {
			return nil, err
		}
		wait, ok := retryAfter(err)
		if !ok {
			return nil, fmt.Errorf("report: %w", err)
		}
		c.Logger.Debug("coordinator asked to slow down", "wait", wait)
		if err := sleepCtx(ctx, min(wait, maxRetryWait)); err != nil {
			return nil, err
		}
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

// backlog is how many results this client's coordinator has not acknowledged.
func (c *Client) backlog() uint64 {
	last, acked := c.Buffer.LastSeq(), c.Buffer.Acked(c.Address)
	if last < acked {
		return 0
	}
	return last - acked
}
