package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const baseConfig = `
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
# The fake probes stand for several hosts but all connect from 127.0.0.1.
responder_cidrs: [127.0.0.0/8]
paths:
  - {from: {site: sql}, to: {site: mi}}
`

// reportConfig is baseConfig with static targets for the results the tests
// report by hand (the store counts only planned paths): sql probes to mi1 on
// 5022–5025, mi probes to sql1 on 5022.
const reportConfig = baseConfig + `  - {from: {site: sql}, to: {address: 198.18.0.2, port: 5022, site: mi, name: mi1}}
  - {from: {site: sql}, to: {address: 198.18.0.2, port: 5023, site: mi, name: mi1}}
  - {from: {site: sql}, to: {address: 198.18.0.2, port: 5024, site: mi, name: mi1}}
  - {from: {site: sql}, to: {address: 198.18.0.2, port: 5025, site: mi, name: mi1}}
  - {from: {site: mi}, to: {address: 198.18.0.3, port: 5022, site: sql, name: sql1}}
`

// TestWatchConfig: a valid change on disk is applied, an invalid one is refused
// and counted while the running config stays, and a signal reloads too.
func TestWatchConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "coordinator.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		// Make sure the modification time moves even on coarse clocks.
		later := time.Now().Add(time.Duration(len(text)) * time.Millisecond)
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
	write(baseConfig)
	loaded := ModTime(path)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Insecure: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeListeners()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- s.WatchConfig(ctx, path, loaded, hup) }()

	write(baseConfig + "  - {from: {site: mi}, to: {site: sql}}\n")
	waitfor.Cond(t, 10*time.Second, "the second rule applied", func() bool { return len(s.cfg.Load().Paths) == 2 })

	write(baseConfig + "  - {from: {site: mi}, to: {site: sql, port: 70000}}\n")
	waitfor.Cond(t, 10*time.Second, "the invalid file counted as a refused reload", func() bool { return testutil.ToFloat64(s.reloadFailures) == 1 })
	if n := len(s.cfg.Load().Paths); n != 2 {
		t.Errorf("after an invalid file: %d rules running, want the previous 2", n)
	}

	// A change that needs a restart is refused too.
	write("listen: {grpc: \"127.0.0.1:1\", http: \"127.0.0.1:0\"}\ngossip: {disabled: true}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n")
	waitfor.Cond(t, 10*time.Second, "a listen change refused", func() bool { return testutil.ToFloat64(s.reloadFailures) == 2 })

	// SIGHUP reloads the file as it is.
	if err := os.WriteFile(path, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- os.Interrupt
	waitfor.Cond(t, 10*time.Second, "the signal reloaded one rule", func() bool { return len(s.cfg.Load().Paths) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFailedStartLeavesStateDirAlone: a start that cannot work (here the mesh
// key file is missing) fails before it opens, creates or locks the state
// directory.
func TestFailedStartLeavesStateDirAlone(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf("listen: {grpc: \"127.0.0.1:0\", http: \"127.0.0.1:0\"}\ngossip: {bind: \"127.0.0.1:0\"}\nmesh_key_file: %q\nstate: {dir: %q}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n", filepath.Join(dir, "missing.key"), state)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Fatalf("New: %v, want the missing mesh key named", err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed start touched the state directory: %v", err)
	}
}
