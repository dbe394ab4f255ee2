// Package pmtu finds the largest packet a path carries: it sets the
// don't-fragment bit on a probe's socket and searches, with a caller-supplied
// test, for the largest size that gets through. The echo kind uses it to
// detect path-MTU black holes — links (typically site-to-site VPNs) that drop
// full-size packets without the ICMP "fragmentation needed" that would let TCP
// adapt, so the TCP handshake works while bulk replication stalls.
package pmtu

import (
	"context"
	"errors"
	"syscall"
)

// Bounds of the search.
const (
	// Max is the largest packet ever tested: a 9000-byte jumbo frame.
	Max = 9000
	// MaxSteps bounds the tests one search makes after the first failure.
	MaxSteps = 16
)

// ErrUnsupported: this platform cannot set the don't-fragment bit.
var ErrUnsupported = errors.New("setting don't-fragment is not supported on this platform")

// DontFragment returns a net.Dialer Control function that sets don't-fragment
// (and forbids local fragmentation) on the socket before it connects: Linux
// IP_MTU_DISCOVER=IP_PMTUDISC_DO (IPV6_MTU_DISCOVER for IPv6), Windows
// IP_DONTFRAGMENT (IPV6_DONTFRAG). TCP sets DF on its own on both systems;
// this makes it explicit and independent of system-wide settings.
func DontFragment(network, _ string, c syscall.RawConn) error {
	var sysErr error
	if err := c.Control(func(fd uintptr) {
		sysErr = setDontFragment(fd, network)
	}); err != nil {
		return err
	}
	return sysErr
}

// Test reports whether a packet of size bytes crossed the path. An error
// means the test itself could not run (e.g. the connection for it failed)
// and ends the search.
type Test func(ctx context.Context, size int) (bool, error)

// Outcome is what a search found.
type Outcome struct {
	// Largest is the largest size known to pass.
	Largest int
	// Exact: the search narrowed the gap between the largest size that passed
	// and the smallest that failed to one byte; otherwise it stopped early
	// (deadline, step limit or a test error) and Largest is a lower bound.
	Exact bool
	// Tests counts the tests made.
	Tests int
	// Err is the error that ended the search early, if any.
	Err error
}

// Search finds the largest size in [pass, fail) that passes, given that pass
// passed and fail failed, by bisection: at most MaxSteps tests, stopping when
// ctx is done.
func Search(ctx context.Context, pass, fail int, test Test) Outcome {
	out := Outcome{Largest: pass}
	for fail-out.Largest > 1 {
		if out.Tests >= MaxSteps {
			return out
		}
		if err := ctx.Err(); err != nil {
			out.Err = err
			return out
		}
		mid := out.Largest + (fail-out.Largest)/2
		ok, err := test(ctx, mid)
		out.Tests++
		if err != nil {
			out.Err = err
			return out
		}
		if ok {
			out.Largest = mid
		} else {
			fail = mid
		}
	}
	out.Exact = true
	return out
}
