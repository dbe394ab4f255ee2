//go:build linux

package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Host is one machine of the lab: a network namespace held by a sleep
// process. Tests get hosts from Lab.Host, Lab.SQL, Lab.MI, Lab.Router or
// Lab.AddHost and run programs or open sockets in them.
type Host struct {
	lab              *Lab
	name             string
	proc             *exec.Cmd // the sleep that holds the namespace
	pid              int
	nsFD             int // open /proc/PID/ns/net, so Do works even after the pid dies
	addr             netip.Addr
	gw               netip.Addr // the router's address on this host's subnet
	hostIf, routerIf string
}

// Name returns the host's name, e.g. "sql" or "wan".
func (h *Host) Name() string { return h.name }

// Pid returns the pid of the process that holds the host's namespace; its
// namespace is /proc/PID/ns/net.
func (h *Host) Pid() int { return h.pid }

// Addr returns the host's address (e.g. 198.18.1.2 for sql). For the router,
// which has one address per host, it returns the one toward the first host;
// use AddrToward instead.
func (h *Host) Addr() netip.Addr {
	if h == h.lab.router {
		for _, o := range h.lab.snapshot() {
			if o != h {
				return o.gw
			}
		}
	}
	return h.addr
}

// AddrToward returns the address h uses on the link toward other: for the
// router, its address on other's subnet (e.g. 198.18.2.1 toward mi); for any
// other host, its only address.
func (h *Host) AddrToward(other *Host) netip.Addr {
	if h == h.lab.router && other != h {
		return other.gw
	}
	return h.addr
}

func (l *Lab) snapshot() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

func (l *Lab) spawn(name string) (*Host, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.spawnLocked(name)
}

// spawnLocked starts the process that holds a new host's namespace. It runs
// on an ordinary (unlocked) goroutine: Pdeathsig follows the forking thread.
func (l *Lab) spawnLocked(name string) (*Host, error) {
	cmd := exec.Command("sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start host %s: %w", name, err)
	}
	h := &Host{lab: l, name: name, proc: cmd, pid: cmd.Process.Pid, nsFD: -1}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", h.pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open namespace of host %s: %w", name, err), h.kill())
	}
	h.nsFD = fd
	l.hosts = append(l.hosts, h)
	return h, nil
}

// kill ends the host's process by pid and reaps it.
func (h *Host) kill() error {
	if h.nsFD >= 0 {
		_ = unix.Close(h.nsFD)
		h.nsFD = -1
	}
	if err := h.proc.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill host %s (pid %d): %w", h.name, h.pid, err)
	}
	_ = h.proc.Wait() // "signal: killed" is the expected outcome
	return nil
}

// Command returns a command that runs name inside the host's namespace (via
// nsenter), with Pdeathsig=SIGKILL so it dies with the test binary. Tests
// start it with Start, or run it themselves.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{fmt.Sprintf("--net=/proc/%d/ns/net", h.pid), "--", name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// run runs a lab command in the host with stdin and fails with its output.
func (h *Host) run(stdin string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := h.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := runContext(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%s %s in %s: %w: %s", name, strings.Join(args, " "), h.name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runContext runs cmd and kills it when ctx ends.
func runContext(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(out.String()), err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return []byte(out.String()), ctx.Err()
	}
}

// Do runs fn on an OS thread switched into the host's namespace, so sockets fn
// creates live there (and stay there). The thread is switched back before it
// is released; if that fails it is left locked and dies with the goroutine.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("do in %s: %w", h.name, err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(h.nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("do in %s: setns: %w", h.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Keep the thread locked: the runtime ends it with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("do in %s: switch back: %w", h.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a listener inside the host, e.g. Listen("tcp", ":5022").
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// DialContext dials from inside the host, e.g. from sql to "198.18.2.2:5022".
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.DialWith(ctx, &net.Dialer{}, network, addr)
}

// DialWith dials from inside the host with d, for tests that need a Control
// function (socket options) or a LocalAddr.
func (h *Host) DialWith(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
