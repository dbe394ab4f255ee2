package cli

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// dialRow stands in for P3-MI's job: it passes when a TCP connection to
// port on loopback completes while the row runs.
func dialRow(port uint16) check.Check {
	return check.Check{ID: "P3-MI", Run: func(ctx context.Context) check.Outcome {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), 2*time.Second)
		if err != nil {
			return check.Outcome{Status: check.Fail, Measured: "TcpTestSucceeded False", Reason: err.Error()}
		}
		c.Close()
		return check.Outcome{Status: check.Pass, Measured: "TcpTestSucceeded True", Reason: "connected"}
	}}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

// TestWithStandIn: with nothing on the endpoint port, the stand-in answers
// while the row runs and releases the port after; with the port taken, it
// is left alone and the row says so.
func TestWithStandIn(t *testing.T) {
	port := freePort(t)
	o := withStandIn(dialRow(port), port, io.Discard).Run(t.Context())
	if o.Status != check.Pass || !strings.Contains(o.Measured, "through the stand-in") || !strings.Contains(o.Reason, "create SQL Server's endpoint") {
		t.Fatalf("free port: %+v", o)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))), time.Second); err == nil {
		c.Close()
		t.Error("the stand-in still holds the port after the row")
	}

	held, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port = uint16(held.Addr().(*net.TCPAddr).Port)
	go func() {
		for {
			c, err := held.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	o = withStandIn(dialRow(port), port, io.Discard).Run(t.Context())
	if o.Status != check.Pass || strings.Contains(o.Measured, "stand-in") || !strings.Contains(o.Reason, "is in use here") {
		t.Fatalf("taken port: %+v", o)
	}
}

// TestStandInAfterEP: EP (a connect to the endpoint port) runs before P3-MI's
// stand-in takes the port: with nothing listening, EP fails — it never sees
// the stand-in — and P3-MI passes through it.
func TestStandInAfterEP(t *testing.T) {
	port := freePort(t)
	ep := dialRow(port)
	ep.ID, ep.Required = "EP", true
	checks := []check.Check{ep}
	agent := withStandIn(dialRow(port), port, io.Discard)
	agent.Required = true
	checks = append(checks, check.After(checks, "EP", agent))
	rows := check.Run(t.Context(), checks, nil)
	if rows[0].Status != check.Fail {
		t.Errorf("EP %s %q: it must not see the stand-in", rows[0].Status, rows[0].Reason)
	}
	if rows[1].Status != check.Pass || !strings.Contains(rows[1].Measured, "through the stand-in") {
		t.Errorf("P3-MI %+v", rows[1])
	}
}
