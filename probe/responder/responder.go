// Package responder is the probe's listener that other probes measure against.
// For now it accepts a connection and closes it cleanly, which is all the tcp kind
// needs; it bounds how many connections it holds at once.
package responder

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// maxConns bounds the connections being handled at once; more are closed at once.
const maxConns = 256

// Responder serves a listener. The zero value is not usable; use New.
type Responder struct {
	logger *slog.Logger
	sem    chan struct{}
}

// New returns a Responder that logs to logger.
func New(logger *slog.Logger) *Responder {
	return &Responder{logger: logger, sem: make(chan struct{}, maxConns)}
}

// Serve accepts connections on lis until ctx is done, then closes lis and returns
// once every connection it handles is closed.
func (r *Responder) Serve(ctx context.Context, lis net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		conn, err := lis.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Resource exhaustion (EMFILE and the like): back off instead of spinning.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			r.logger.Warn("responder accept failed", "error", err, "retry_in", tempDelay)
			t := time.NewTimer(tempDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		tempDelay = 0
		select {
		case r.sem <- struct{}{}:
		default:
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-r.sem }()
			r.handle(conn)
		}()
	}
}

// handle closes the connection cleanly (FIN): the tcp kind only needs the handshake.
func (r *Responder) handle(conn net.Conn) {
	conn.Close()
}
