package report

import (
	"context"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// pacer paces the results sent to one coordinator: a token bucket of burst
// tokens refilled at perSecond. Live traffic (a few results per second) never
// waits; a replayed backlog goes out at perSecond.
type pacer struct{ lim *rate.Limiter }

func newPacer(perSecond float64, burst int) pacer {
	return pacer{lim: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// wait blocks until n results may be sent (n ≤ burst; a heartbeat costs nothing).
func (p pacer) wait(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	return p.lim.WaitN(ctx, min(n, p.lim.Burst()))
}

// retryAfter recognises a coordinator's ResourceExhausted answer and returns how
// long it asked to wait (1 s when it did not say).
func retryAfter(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(ri.GetRetryDelay().AsDuration(), 10*time.Millisecond), true
		}
	}
	return time.Second, true
}

// limitBytes cuts a batch so its encoded size stays under maxBytes (at least one
// result is always kept).
func limitBytes(batch []*linkmeshv1.Result, maxBytes int) []*linkmeshv1.Result {
	total := 0
	for i, r := range batch {
		total += proto.Size(r) + 4
		if total > maxBytes && i > 0 {
			return batch[:i]
		}
	}
	return batch
}
