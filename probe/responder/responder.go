// Package responder is the probe's listener that other probes measure against.
// It speaks the responder protocol (package wire): a hello in which both sides
// prove they hold the mesh key and the responder names its probe (and, when it
// has a certificate from the mesh CA, proves that name with it), then echo round trips, path-MTU test frames and
// a throughput burst, for the echo kind of other probes. A tcp-kind attempt
// that connects and closes without a byte is served too: it just ends.
//
// Everything a client sends is bounded: the number of connections (the oldest
// unauthenticated one is evicted to make room), the time to finish the hello
// (an absolute deadline, so a client trickling bytes gains nothing), the time
// for every later frame, each frame's length (checked before its payload is
// read), the frames and burst bytes per connection and the connection's life.
// And no client can use it to amplify traffic: it never has sent more bytes on
// a connection than it has received on it.
package responder

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds what the responder accepts. Zero fields take the defaults
// noted on each (see DefaultConfig).
type Config struct {
	// Key is the mesh key (meshkey.Size bytes): the responder proves itself
	// with it. Without it the responder answers every hello with "no mesh
	// key", and echo attempts against it fail.
	Key []byte
	// Accepted are further keys a client may prove itself with during a key
	// rotation.
	Accepted [][]byte
	// Name is this probe's name: the hello-reply carries it under the mesh
	// key's MAC, so a client can tell which probe answered ("" says none).
	Name string
	// Certificate, when set, returns the probe's current certificate from
	// the mesh CA (the tlsconf Source's, re-read when its files change; nil:
	// none). The responder proves Name with it to every client that asks: the
	// certificate chain and a signature over the hello.
	Certificate func() *tls.Certificate
	// MaxConns bounds the connections handled at once (default 64). When it
	// is reached, the oldest connection that has not finished its hello is
	// closed to make room; when every connection has, the new one is closed.
	MaxConns int
	// MaxAuthenticated bounds the connections past the hello (default 48),
	// so there is always room for new hellos; more are refused as busy.
	MaxAuthenticated int
	// HandshakeTimeout is how long a client has from connecting to finishing
	// its hello (default 5 s).
	HandshakeTimeout time.Duration
	// FrameTimeout is how long each later frame may take to arrive, counted
	// from when the previous one was answered (default 10 s).
	FrameTimeout time.Duration
	// MaxLifetime bounds one connection's life (default 10 min).
	MaxLifetime time.Duration
	// MaxFrames bounds the frames one connection may send (default 100,000).
	MaxFrames int
	// MaxBurstBytes bounds the bytes of one connection's bursts (default 1 GiB).
	MaxBurstBytes int64
}

// DefaultConfig returns the limits used for every zero field of a Config.
func DefaultConfig() Config {
	return Config{
		MaxConns:         64,
		MaxAuthenticated: 48,
		HandshakeTimeout: 5 * time.Second,
		FrameTimeout:     10 * time.Second,
		MaxLifetime:      10 * time.Minute,
		MaxFrames:        100_000,
		MaxBurstBytes:    1 << 30,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.MaxConns = cmp(c.MaxConns, d.MaxConns)
	c.MaxAuthenticated = min(cmp(c.MaxAuthenticated, d.MaxAuthenticated), c.MaxConns)
	c.HandshakeTimeout = cmp(c.HandshakeTimeout, d.HandshakeTimeout)
	c.FrameTimeout = cmp(c.FrameTimeout, d.FrameTimeout)
	c.MaxLifetime = cmp(c.MaxLifetime, d.MaxLifetime)
	c.MaxFrames = cmp(c.MaxFrames, d.MaxFrames)
	c.MaxBurstBytes = cmp(c.MaxBurstBytes, d.MaxBurstBytes)
	return c
}

// cmp returns v, or def when v is not positive.
func cmp[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Stats counts what the responder did since it started. All fields only grow.
type Stats struct {
	Accepted, Authenticated, Evicted, Refused uint64
	// ProtocolErrors: connections closed for bytes that are not the protocol,
	// a bad length, a bad version or a late frame.
	ProtocolErrors uint64
	// AuthFailures: clients whose proof did not match the mesh key.
	AuthFailures uint64
	// BytesIn and BytesOut are payload and header bytes over all connections.
	BytesIn, BytesOut uint64
}

// Responder serves the responder protocol. Create it with New; Serve may run on
// several listeners at once (the responder port and a stand-in port), sharing
// the limits.
type Responder struct {
	cfg    Config
	logger *slog.Logger
	reg    registry
	// summarizing: one Serve (the first running) logs the summaries for all.
	summarizing atomic.Bool
	ids         identityCache
	stats       struct {
		accepted, authenticated, evicted, refused, protoErrs, authFails, in, out atomic.Uint64
	}
}

// New returns a Responder with cfg's limits that logs to logger.
func New(cfg Config, logger *slog.Logger) *Responder {
	r := &Responder{cfg: cfg.withDefaults(), logger: logger}
	r.reg.init()
	return r
}

// Stats returns the counters so far.
func (r *Responder) Stats() Stats {
	s := &r.stats
	return Stats{
		Accepted: s.accepted.Load(), Authenticated: s.authenticated.Load(), Evicted: s.evicted.Load(),
		Refused: s.refused.Load(), ProtocolErrors: s.protoErrs.Load(), AuthFailures: s.authFails.Load(),
		BytesIn: s.in.Load(), BytesOut: s.out.Load(),
	}
}

// Serve accepts connections on lis until ctx is done, then closes lis and
// every connection it handles, and returns once their goroutines have ended.
func (r *Responder) Serve(ctx context.Context, lis net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() {
		lis.Close()
		r.reg.closeAll()
	})
	defer stop()
	if r.summarizing.CompareAndSwap(false, true) {
		wg.Go(func() {
			defer r.summarizing.Store(false)
			r.summarize(ctx)
		})
	}
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
		r.stats.accepted.Add(1)
		s, evicted := r.reg.admit(conn, r.cfg.MaxConns)
		if evicted {
			r.stats.evicted.Add(1)
		}
		if s == nil {
			r.stats.refused.Add(1)
			conn.Close()
			continue
		}
		if ctx.Err() != nil { // closeAll may have run before admit
			r.reg.done(s)
			conn.Close()
			continue
		}
		wg.Go(func() {
			defer r.reg.done(s)
			r.handle(s)
		})
	}
}

// summarize logs, at most once a minute, what the responder refused, so a
// scan or an attack is visible without a log line per connection.
func (r *Responder) summarize(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var last Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.Stats()
		bad := now.ProtocolErrors - last.ProtocolErrors + now.AuthFailures - last.AuthFailures +
			now.Evicted - last.Evicted + now.Refused - last.Refused
		if bad > 0 {
			r.logger.Warn("responder refused connections in the last minute",
				"protocol_errors", now.ProtocolErrors-last.ProtocolErrors,
				"auth_failures", now.AuthFailures-last.AuthFailures,
				"evicted", now.Evicted-last.Evicted, "refused", now.Refused-last.Refused)
		}
		last = now
	}
}
