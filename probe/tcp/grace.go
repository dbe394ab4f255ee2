package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// The grace Probe holds a connection open after the handshake, watching for the
// far end to reset or close it. See graceFor.
const (
	// GraceAllowance is what the grace allows for the far application to accept
	// the connection and close it, on top of the round trips. Measured on
	// loopback (BenchmarkAcceptThenResetLatency, 2 cores): an idle application
	// resets within 0.04 ms (p50), 3 ms at most, even with CPU hogs in other
	// processes (the kernel favours the woken thread); an application whose own
	// threads saturate the CPUs waits its turn: p50 40 ms, p99 81 ms, max 85 ms.
	// 100 ms covers that, and is the whole grace on a LAN.
	GraceAllowance = 100 * time.Millisecond
	// GraceRTTs is how many handshake round trips the grace allows: the reset
	// of an accept-then-reset comes about one RTT after connect returns (our
	// ACK travels there, the RST back); the second covers a round trip slower
	// than the handshake's (queueing, jitter).
	GraceRTTs = 2
	// GraceMax caps the grace, whatever the RTT says (a handshake that took a
	// SYN retransmission measures a second or more).
	GraceMax = time.Second
)

// graceFor returns how long to watch a just-connected socket for a reset: twice
// the handshake RTT plus GraceAllowance, at most GraceMax, and never past the
// attempt's deadline. cut reports that the deadline shortened it.
func graceFor(ctx context.Context, rtt time.Duration, now time.Time) (grace time.Duration, cut bool) {
	grace = min(GraceRTTs*max(rtt, 0)+GraceAllowance, GraceMax)
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(now); left < grace {
			return max(left, 0), true
		}
	}
	return grace, false
}

// watchOutcome is what the far end did during the grace.
type watchOutcome int

const (
	watchQuiet  watchOutcome = iota // nothing: the connection stayed open
	watchData                       // bytes arrived (a banner): it is talking
	watchReset                      // an RST
	watchClosed                     // a FIN
	watchFailed                     // another error on the socket
)

// watchResult is what watchAfterAccept saw.
type watchResult struct {
	outcome watchOutcome
	after   time.Duration // from connect's return to what was seen (or to the grace's end)
	bytes   int           // with watchData
	err     error         // with watchReset and watchFailed
}

// watchAfterAccept reads from conn (it never writes) until grace has passed, data
// arrives, or the far end resets or closes the connection. connected is when the
// connect call returned. A cancelled ctx ends the watch early, as quiet.
func watchAfterAccept(ctx context.Context, conn *net.TCPConn, connected time.Time, grace time.Duration) watchResult {
	if grace <= 0 {
		return watchResult{outcome: watchQuiet}
	}
	if err := conn.SetReadDeadline(connected.Add(grace)); err != nil {
		return watchResult{outcome: watchFailed, err: fmt.Errorf("set read deadline: %w", err)}
	}
	// Cancelling ctx sets a deadline in the past, which wakes the read at once.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = conn.SetReadDeadline(time.Unix(1, 0))
	})
	var buf [drainBufSize]byte
	n, err := conn.Read(buf[:])
	after := time.Since(connected)
	if !stop() {
		<-fired // it ran: wait for it, so it cannot set a deadline after the one cleared below
	}
	_ = conn.SetReadDeadline(time.Time{})

	switch {
	case n > 0:
		return watchResult{outcome: watchData, after: after, bytes: n}
	case err == nil:
		// A zero-byte read without an error does not happen on TCP; treat it
		// as nothing seen.
		return watchResult{outcome: watchQuiet, after: after}
	case errors.Is(err, io.EOF):
		return watchResult{outcome: watchClosed, after: after}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return watchResult{outcome: watchQuiet, after: after}
	case attempt.Classify(err) == attempt.Reset:
		return watchResult{outcome: watchReset, after: after, err: err}
	default:
		return watchResult{outcome: watchFailed, after: after, err: err}
	}
}

// refusingCause is the sentence every accept-then-reset detail ends with.
const refusingCause = "a proxy or firewall in the path, or the endpoint refusing this client"

// judgeWatch turns what the grace saw into the attempt's Result. res is the ok
// Result of the handshake; its RTT and details are kept.
func judgeWatch(res attempt.Result, w watchResult, grace time.Duration, cut bool, ctxErr error) attempt.Result {
	handshake := res.Detail
	switch w.outcome {
	case watchReset:
		res.Code = attempt.Reset
		res.Detail = fmt.Sprintf("accepted, then reset within %s: %s (%s)", millis(w.after), refusingCause, handshake)
	case watchClosed:
		res.Code = attempt.Reset
		res.Detail = fmt.Sprintf("accepted, then closed within %s: %s (%s)", millis(w.after), refusingCause, handshake)
	case watchFailed:
		res.Code = attempt.Classify(w.err)
		if res.Code == attempt.OK || res.Code == attempt.Timeout {
			res.Code = attempt.Error
		}
		res.Detail = fmt.Sprintf("accepted, then the connection failed within %s: %v (%s)", millis(w.after), w.err, handshake)
	case watchData:
		res.Detail += fmt.Sprintf("; the far end sent %d bytes first (a banner)", w.bytes)
	case watchQuiet:
		switch {
		case ctxErr != nil && w.after < grace:
			res.Detail += fmt.Sprintf("; still open after %s (the watch for a reset was cut short: %v)", millis(w.after), ctxErr)
		case cut:
			res.Detail += fmt.Sprintf("; still open after %s (the attempt's deadline cut the watch for a reset short)", millis(grace))
		default:
			res.Detail += fmt.Sprintf("; still open after %s", millis(grace))
		}
	}
	return res
}

// connectReset is the detail for a connect that itself failed with a reset: the
// handshake completed and the far end reset the connection before the connect
// call returned (a RST to the SYN is ECONNREFUSED instead).
func connectReset(res attempt.Result) attempt.Result {
	res.Detail = fmt.Sprintf("accepted, then reset before the connect call returned: %s (%s)", refusingCause, res.Detail)
	return res
}
