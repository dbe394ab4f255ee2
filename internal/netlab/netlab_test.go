//go:build linux

package netlab

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLabTopology(t *testing.T) {
	t.Parallel()
	l := New(t)
	sql, mi, wan := l.SQL(), l.MI(), l.Router()
	for _, c := range []struct {
		got, want netip.Addr
	}{
		{sql.Addr(), netip.MustParseAddr("198.18.1.2")},
		{mi.Addr(), netip.MustParseAddr("198.18.2.2")},
		{wan.AddrToward(sql), netip.MustParseAddr("198.18.1.1")},
		{wan.AddrToward(mi), netip.MustParseAddr("198.18.2.1")},
	} {
		if c.got != c.want {
			t.Errorf("address: got %v, want %v", c.got, c.want)
		}
	}
	serve(t, sql, ":5022", nil)
	serve(t, mi, ":5022", nil)
	mustConnect(t, sql, hostPort(mi, port))
	mustConnect(t, mi, hostPort(sql, port))

	mi2, err := l.AddHost("mi2")
	if err != nil {
		t.Fatalf("add host: %v", err)
	}
	if want := netip.MustParseAddr("198.18.3.2"); mi2.Addr() != want {
		t.Errorf("mi2 address: got %v, want %v", mi2.Addr(), want)
	}
	serve(t, mi2, ":5022", nil)
	mustConnect(t, sql, hostPort(mi2, port))
	if _, err := l.AddHost("mi2"); err == nil {
		t.Errorf("second AddHost(mi2): got no error, want one")
	}

	// Forwarding is on in the router only.
	var fwd []byte
	if err := wan.Do(func() (err error) {
		fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}); err != nil || strings.TrimSpace(string(fwd)) != "1" {
		t.Errorf("router ip_forward: got %q (%v), want 1", fwd, err)
	}
	if err := sql.Do(func() (err error) {
		fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}); err != nil || strings.TrimSpace(string(fwd)) != "0" {
		t.Errorf("sql ip_forward: got %q (%v), want 0", fwd, err)
	}
}

func TestLabCommand(t *testing.T) {
	t.Parallel()
	l := New(t)
	out, err := l.SQL().Command("ip", "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in sql: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "198.18.1.2/24") || strings.Contains(string(out), "198.18.2.") {
		t.Errorf("ip addr in sql: got %q, want 198.18.1.2/24 only", out)
	}

	p := l.MI().Start(t, l.MI().Command("sleep", "30"))
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var exit interface{ ExitCode() int }
	if err := p.Wait(ctx); !errors.As(err, &exit) {
		t.Errorf("wait after SIGTERM: got %v, want an exit error", err)
	}
}

// TestLabTeardown checks that a lab's cleanup ends every process it started,
// namespace holders and started commands alike.
func TestLabTeardown(t *testing.T) {
	t.Parallel()
	var pids []int
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		for _, name := range []string{"sql", "wan", "mi"} {
			pids = append(pids, l.Host(name).Pid())
		}
		p := l.SQL().Start(t, l.SQL().Command("sleep", "60"))
		pids = append(pids, p.Pid())
		if _, err := l.Inject(Fault{Kind: Delay, From: "sql", To: "mi", Port: port}); err != nil {
			t.Fatal(err)
		}
	})
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pid %d after teardown: got %v, want it gone", pid, err)
		}
	}
}

// TestRequirementsMessage checks that a machine without the tools gets a
// message naming each one (not TestLab...: it changes PATH, so no parallel).
func TestRequirementsMessage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	got := missingRequirements()
	for _, tool := range requiredTools {
		if !strings.Contains(got, "the "+tool+" command") {
			t.Errorf("missingRequirements() = %q, want it to name %s", got, tool)
		}
	}
}
