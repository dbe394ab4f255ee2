package attempt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/explain"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// fakeNetError is a net.Error whose Timeout answer the test chooses.
type fakeNetError struct{ timeout bool }

func (e fakeNetError) Error() string   { return "fake" }
func (e fakeNetError) Timeout() bool   { return e.timeout }
func (e fakeNetError) Temporary() bool { return false }

func TestClassifyTypes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{name: "nil", err: nil, want: OK},
		{name: "dns not found", err: &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, want: DNS},
		{name: "dns timeout is still dns", err: &net.DNSError{Err: "i/o timeout", Name: "x.invalid", IsTimeout: true}, want: DNS},
		{name: "dns inside op error", err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "x"}}, want: DNS},
		{name: "dns wrapped with %w", err: fmt.Errorf("resolve: %w", &net.DNSError{Name: "x", IsNotFound: true}), want: DNS},
		{name: "context deadline", err: context.DeadlineExceeded, want: Timeout},
		{name: "context deadline wrapped", err: fmt.Errorf("dial: %w", context.DeadlineExceeded), want: Timeout},
		{name: "os deadline", err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, want: Timeout},
		{name: "net error timeout", err: &net.OpError{Op: "dial", Net: "tcp", Err: fakeNetError{timeout: true}}, want: Timeout},
		{name: "net error not timeout", err: &net.OpError{Op: "dial", Net: "tcp", Err: fakeNetError{}}, want: Error},
		{name: "context canceled", err: context.Canceled, want: Error},
		{name: "address error", err: &net.AddrError{Err: "missing port in address", Addr: "x"}, want: Error},
		{name: "plain error", err: errors.New("something"), want: Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// freePort returns a loopback address on which nothing listens: it listens on
// 127.0.0.1:0 and closes the listener again.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

func TestClassifyRealSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })

	tests := []struct {
		name    string
		addr    string
		timeout time.Duration
		want    Code
	}{
		{name: "closed port is refused", addr: freePort(t), timeout: 5 * time.Second, want: Refused},
		{name: "1ns deadline is timeout", addr: ln.Addr().String(), timeout: time.Nanosecond, want: Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := net.Dialer{Timeout: tt.timeout}
			conn, err := d.Dial("tcp", tt.addr)
			if err == nil {
				conn.Close()
			}
			if got := Classify(err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", err, got, tt.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	seen := make(map[string]Code)
	for _, p := range vocab.Codes {
		c := CodeOf(p)
		e := c.Explain()
		if e == "" || e == explain.Result(linkmeshv1.Code_CODE_UNSPECIFIED) {
			t.Errorf("%v.Explain() = %q, want a specific explanation", c, e)
		}
		if prev, dup := seen[e]; dup {
			t.Errorf("%v and %v share the explanation %q", prev, c, e)
		}
		seen[e] = c
		// Explain reads internal/explain by the code's wire value.
		if e != explain.Result(p) {
			t.Errorf("%v: explained %q, the wire code %v %q; want the same text", c, e, p, explain.Result(p))
		}
	}
}
