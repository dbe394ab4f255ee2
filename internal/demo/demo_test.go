package demo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the demo's printer and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoBothDirectionsUp runs the demo as a user would and checks what it prints:
// the /metrics URL on a line of its own, then both directions UP, and a clean end
// when --duration passes.
func TestDemoBothDirectionsUp(t *testing.T) {
	var out syncBuffer
	start := time.Now()
	err := Run(context.Background(), Options{
		Duration: 3 * time.Second,
		Every:    500 * time.Millisecond,
		Interval: 200 * time.Millisecond,
		Out:      &out,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("demo with --duration 3s took %v to end", took)
	}
	text := out.String()
	if !regexp.MustCompile(`(?m)^http://127\.0\.0\.1:\d+/metrics$`).MatchString(text) {
		t.Errorf("no /metrics URL on a line of its own in:\n%s", text)
	}
	for _, dir := range []string{"sql→mi", "mi→sql"} {
		for _, kind := range []string{"tcp", "echo"} {
			re := regexp.MustCompile(`(?m)^  ` + dir + `\s+✓ UP\s+ok\s+\S+ → \S+ ` + kind + `\b.*\s[0-9.]+/[0-9.]+ ms`)
			if !re.MatchString(text) {
				t.Errorf("direction %s, kind %s never shown UP/ok in:\n%s", dir, kind, text)
			}
		}
		// The first echo attempt checks the path MTU (loopback: 9000, the most tested).
		if !regexp.MustCompile(`(?m)^  ` + dir + `\s+✓ UP\s+ok\s+\S+ → \S+ echo.*\s9000$`).MatchString(text) {
			t.Errorf("direction %s: no path MTU shown for echo in:\n%s", dir, text)
		}
	}
	if strings.Contains(text, "BLACK HOLE") {
		t.Errorf("a black hole on loopback:\n%s", text)
	}
	if strings.Contains(text, "DOWN") {
		t.Errorf("a path was DOWN in the demo:\n%s", text)
	}
}

func TestDemoStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Out: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not stop within 10 s of cancel")
	}
}
