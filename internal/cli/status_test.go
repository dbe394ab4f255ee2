package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/internal/demo"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// TestStatusCommand runs `linkmesh status` against the demo's real
// coordinator: exit 0 once every path is up, the JSON has the verdict and
// the paths; a coordinator that does not answer is exit 2 ("cannot tell"),
// never 0.
func TestStatusCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *coordinator.Server, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, demo.Options{Interval: 200 * time.Millisecond, Every: time.Hour, Out: io.Discard,
			Logger: slog.New(slog.DiscardHandler), Started: func(s *coordinator.Server) { started <- s }})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var s *coordinator.Server
	select {
	case s = <-started:
	case err := <-done:
		t.Fatalf("demo: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not start")
	}
	url := "http://" + s.HTTPAddr().String()
	var out bytes.Buffer
	waitfor.Cond(t, 20*time.Second, "linkmesh status exit 0 (every path up)", func() bool {
		out.Reset()
		return Status(ctx, []string{"--coordinator", url, "--explain"}, &out, io.Discard) == nil
	})
	for _, want := range []string{"UP: 4 up · 0 down · 0 unknown", "sql → mi: all 2 up   |   mi → sql: all 2 up", "Probes:", "sql-probe"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := Status(ctx, []string{"--coordinator", s.HTTPAddr().String(), "--output", "json"}, &out, io.Discard); err != nil {
		t.Fatalf("status --output json: %v", err)
	}
	var js struct {
		Verdict string           `json:"verdict"`
		Paths   []map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil || js.Verdict != "up" || len(js.Paths) != 4 {
		t.Errorf("json: %v, verdict %q, %d paths:\n%s", err, js.Verdict, len(js.Paths), out.String())
	}

	// A port nothing listens on: cannot tell.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	err = Status(ctx, []string{"--coordinator", closed}, io.Discard, io.Discard)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || !strings.Contains(err.Error(), "cannot tell") {
		t.Errorf("no coordinator: %v, want exit 2, cannot tell", err)
	}
	var ue *UsageError
	if err := Status(ctx, nil, io.Discard, io.Discard); !errors.As(err, &ue) {
		t.Errorf("without --coordinator: %v, want a usage error", err)
	}
}
