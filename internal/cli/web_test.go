package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkmesh/linkmesh/internal/webtest"
)

// TestCoordinatorWebConfigFlag: --web.config.file is checked before the
// coordinator starts (a file that does not load is a usage error), and
// --check-config names the web config in force.
func TestCoordinatorWebConfigFlag(t *testing.T) {
	wc := webtest.Write(t, true)
	cfg := filepath.Join(t.TempDir(), "coordinator.yaml")
	if err := os.WriteFile(cfg, []byte("gossip: {disabled: true}\npaths:\n  - {from: {site: sql}, to: {site: mi}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Coordinator(context.Background(), []string{"--config", cfg, "--check-config", "--insecure", "--web.config.file", wc.File}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web config: "+wc.File) {
		t.Errorf("--check-config output does not name the web config:\n%s", out.String())
	}
	out.Reset()
	if err := Coordinator(context.Background(), []string{"--config", cfg, "--check-config", "--insecure"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web config: none") {
		t.Errorf("--check-config without a web config:\n%s", out.String())
	}
	err := Coordinator(context.Background(), []string{"--config", cfg, "--check-config", "--insecure", "--web.config.file", wc.File + ".missing"}, io.Discard, io.Discard)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--web.config.file") {
		t.Errorf("a missing web config: %v, want a usage error naming --web.config.file", err)
	}
}
