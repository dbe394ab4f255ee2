package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCertsMeshKeyDir: `certs mesh-key --dir D` writes D/mesh.key (it used
// to ignore --dir and write ./mesh.key), and --out still wins; the server
// certificate's hint lists the names as text, not a Go slice.
func TestCertsMeshKeyDir(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	certs := func(args ...string) string {
		t.Helper()
		var out strings.Builder
		if err := Certs(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("certs %v: %v", args, err)
		}
		return out.String()
	}
	if out := certs("mesh-key", "--dir", sub); !strings.Contains(out, filepath.Join(sub, "mesh.key")) {
		t.Errorf("output %q does not name %s", out, filepath.Join(sub, "mesh.key"))
	}
	if _, err := os.Stat(filepath.Join(sub, "mesh.key")); err != nil {
		t.Errorf("--dir: %v", err)
	}
	other := filepath.Join(dir, "other.key")
	certs("mesh-key", "--dir", sub, "--out", other)
	if _, err := os.Stat(other); err != nil {
		t.Errorf("--out: %v", err)
	}
	certs("ca", "--dir", dir)
	out := certs("server", "--dir", dir, "--name", "coord-1", "--san", "10.0.0.4,coord.example.net")
	if !strings.Contains(out, "probes dial one of: 10.0.0.4, coord.example.net") || strings.Contains(out, "[") {
		t.Errorf("server hint %q: want the names listed as text", out)
	}
}
