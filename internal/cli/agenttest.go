package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
	"github.com/linkmesh/linkmesh/internal/check/sqlserver"
	"github.com/linkmesh/linkmesh/probe/standin"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// standInWait bounds the wait for the stand-in to bind or find the port taken.
const standInWait = 5 * time.Second

// withStandIn runs c (P3-MI) while a stand-in answers TCP on port in SQL
// Server's place, when nothing listens there yet — as the coordinated round
// does — so the MI's job can prove the path before the endpoint exists. A
// port another program holds (SQL Server's endpoint) is never touched. The
// port is released when the row ends.
func withStandIn(c check.Check, port uint16, progress io.Writer) check.Check {
	run := c.Run
	c.Run = func(ctx context.Context) check.Outcome {
		sctx, cancel := context.WithCancel(ctx)
		m := standin.New(acceptAndClose, "", slog.New(slog.DiscardHandler))
		reqs := make(chan []standin.Request, 1)
		reqs <- []standin.Request{{Port: uint32(port), MaxDuration: sqlserver.AgentTimeout + 2*time.Minute, Lease: standin.MaxLease}}
		done := make(chan error, 1)
		go func() { done <- m.Run(sctx, reqs) }()
		st := waitStandIn(ctx, m, uint32(port))
		if st.GetState() == linkmeshv1.StandInState_STAND_IN_STATE_SERVING {
			fmt.Fprintf(progress, "linkmesh check: P3-MI: nothing listened on %d, so linkmesh answers there in SQL Server's place until the job ends\n", port)
		}
		o := run(ctx)
		cancel()
		<-done
		switch st.GetState() {
		case linkmeshv1.StandInState_STAND_IN_STATE_SERVING:
			o.Measured += ", through the stand-in"
			o.Reason += fmt.Sprintf(" (nothing listened on %d here, so linkmesh's stand-in answered in SQL Server's place while the job ran, and released the port: create SQL Server's endpoint before the link)", port)
		case linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN:
			o.Reason += fmt.Sprintf(" (port %d is in use here, so the job connected to whatever holds it: SQL Server's endpoint, if EP passed)", port)
		case linkmeshv1.StandInState_STAND_IN_STATE_FAILED:
			o.Reason += fmt.Sprintf(" (the stand-in could not start on %d: %s)", port, st.GetDetail())
		}
		return o
	}
	return c
}

// waitStandIn waits, a bounded time, for the stand-in on port to bind or to
// find the port taken.
func waitStandIn(ctx context.Context, m *standin.Manager, port uint32) *linkmeshv1.StandInStatus {
	deadline := time.NewTimer(standInWait)
	defer deadline.Stop()
	for {
		changed := m.Changed()
		for _, st := range m.Statuses() {
			if st.GetPort() == port && st.GetState() != linkmeshv1.StandInState_STAND_IN_STATE_UNSPECIFIED {
				return st
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// acceptAndClose answers TCP connections and closes them: enough for tnc,
// which tests the handshake only.
func acceptAndClose(ctx context.Context, lis net.Listener) error {
	stop := context.AfterFunc(ctx, func() { lis.Close() })
	defer stop()
	for {
		conn, err := lis.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		conn.Close()
	}
}
