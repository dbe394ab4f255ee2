//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Proc is a program started inside a host by Host.Start, e.g. the linkmesh
// binary. It owns the Wait of its command: tests watch Done or call Wait.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit error; written before done closes
}

// Start starts cmd (normally from h.Command) and registers a cleanup that
// kills it by pid and reaps it if it is still running when the test ends.
// It fails the test if cmd does not start. Tests call it to run linkmesh.
func (h *Host) Start(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("netlab: start %s in %s: %v", cmd.Path, h.name, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	// The waiter ends when the process exits; the cleanup below makes sure
	// it does.
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			tb.Errorf("netlab: kill pid %d: %v", p.Pid(), err)
		}
		<-p.done
	})
	return p
}

// Pid returns the process id (after nsenter has exec'd into the program, it
// is the program's own pid).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process, e.g. syscall.SIGTERM to test a graceful
// stop.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal pid %d: %w", p.Pid(), err)
	}
	return nil
}

// Wait waits until the process exits and returns its exit error (nil for
// status 0), or ctx's error if ctx ends first.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("wait for pid %d: %w", p.Pid(), ctx.Err())
	}
}
