package statedir

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCheckpointFailureLoggedOnce: a checkpoint that cannot be written (here
// the state file's name is taken by a directory, so the rename fails, with a
// new temporary file named in each error) logs one error when saves start
// failing, however many fail, and one line with the count when a save works
// again; every attempt is still counted. A second failure is a new change of
// state and logs again.
func TestCheckpointFailureLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store := pathstate.New(time.Now)
	c, err := OpenSaver(dir, time.Second, store, prometheus.NewRegistry(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	register := func(name string) {
		t.Helper()
		if _, err := store.TryRegister(&linkmeshv1.ProbeInfo{Name: name, Site: "sql", Epoch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	block := filepath.Join(dir, "state.json")
	breakIt := func() {
		t.Helper()
		if err := os.RemoveAll(block); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(block, "taken"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const failing, again = "cannot write the checkpoint", "checkpoint written again"

	breakIt()
	register("sql1")
	const attempts = 7
	for range attempts {
		c.save() // forced while failing
	}
	if n := testutil.ToFloat64(c.saves.WithLabelValues("error")); n != attempts {
		t.Errorf("checkpoints_total{result=error} = %v, want %d", n, attempts)
	}
	if n := logs.count(failing); n != 1 {
		t.Errorf("%d %q lines for %d failed saves, want 1:\n%s", n, failing, attempts, logs.String())
	}

	if err := os.RemoveAll(block); err != nil {
		t.Fatal(err)
	}
	c.save()
	if n := testutil.ToFloat64(c.saves.WithLabelValues("ok")); n != 1 {
		t.Errorf("checkpoints_total{result=ok} = %v, want 1", n)
	}
	if n := logs.count(again); n != 1 || !strings.Contains(logs.String(), "failed_attempts=7") {
		t.Errorf("want one %q line with failed_attempts=7:\n%s", again, logs.String())
	}

	breakIt()
	register("sql2")
	c.save()
	c.save()
	if n := logs.count(failing); n != 2 {
		t.Errorf("after a second failure: %d %q lines, want 2:\n%s", n, failing, logs.String())
	}
}
