//go:build !linux

package netlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
)

// This file gives the lab's API to systems other than Linux, so that tests
// using it compile everywhere; New skips there, so nothing below runs.

var errNotLinux = errors.New("netlab: network namespaces need Linux")

// Lab is one network of hosts in namespaces; only on Linux.
type Lab struct{}

// Host is one machine of the lab; only on Linux.
type Host struct{}

// Proc is a program started inside a host; only on Linux.
type Proc struct{}

// Injection is a set of faults in force on the router; only on Linux.
type Injection struct{}

// New skips the test: the lab needs Linux.
func New(tb testing.TB) *Lab { return NewWithHosts(tb) }

// NewWithHosts skips the test: the lab needs Linux.
func NewWithHosts(tb testing.TB, _ ...string) *Lab {
	tb.Helper()
	tb.Skip("netlab: network namespaces need Linux")
	return nil
}

// AddHost fails: the lab needs Linux.
func (*Lab) AddHost(string) (*Host, error) { return nil, errNotLinux }

// Host returns nil: the lab needs Linux.
func (*Lab) Host(string) *Host { return nil }

// SQL returns nil: the lab needs Linux.
func (*Lab) SQL() *Host { return nil }

// MI returns nil: the lab needs Linux.
func (*Lab) MI() *Host { return nil }

// Router returns nil: the lab needs Linux.
func (*Lab) Router() *Host { return nil }

// Close does nothing: the lab needs Linux.
func (*Lab) Close() error { return nil }

// Inject fails: the lab needs Linux.
func (*Lab) Inject(...Fault) (*Injection, error) { return nil, errNotLinux }

// Remove does nothing: the lab needs Linux.
func (*Injection) Remove() error { return nil }

// Dropped returns 0: the lab needs Linux.
func (*Injection) Dropped() uint64 { return 0 }

// Name returns "": the lab needs Linux.
func (*Host) Name() string { return "" }

// Pid returns 0: the lab needs Linux.
func (*Host) Pid() int { return 0 }

// Addr returns the zero address: the lab needs Linux.
func (*Host) Addr() netip.Addr { return netip.Addr{} }

// AddrToward returns the zero address: the lab needs Linux.
func (*Host) AddrToward(*Host) netip.Addr { return netip.Addr{} }

// Interface returns "": the lab needs Linux.
func (*Host) Interface(*Host) string { return "" }

// Command returns a command that fails to run: the lab needs Linux.
func (*Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Err = errNotLinux
	return cmd
}

// Start fails the test: the lab needs Linux.
func (*Host) Start(tb testing.TB, _ *exec.Cmd) *Proc {
	tb.Helper()
	tb.Fatal(errNotLinux)
	return nil
}

// Do fails: the lab needs Linux.
func (*Host) Do(func() error) error { return errNotLinux }

// Listen fails: the lab needs Linux.
func (*Host) Listen(string, string) (net.Listener, error) { return nil, errNotLinux }

// DialContext fails: the lab needs Linux.
func (*Host) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errNotLinux
}

// DialWith fails: the lab needs Linux.
func (*Host) DialWith(context.Context, *net.Dialer, string, string) (net.Conn, error) {
	return nil, errNotLinux
}

// Pid returns 0: the lab needs Linux.
func (*Proc) Pid() int { return 0 }

// Signal fails: the lab needs Linux.
func (*Proc) Signal(os.Signal) error { return errNotLinux }

// Wait fails: the lab needs Linux.
func (*Proc) Wait(context.Context) error { return errNotLinux }
