//go:build !windows

package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/pki"
)

// Every key `linkmesh certs` writes is mode 0600 whatever the umask — also a
// key replaced with --force that was readable by others — and certificates
// are 0644. (On Windows the keys get an ACL instead: internal/keyfile.)
func TestCertsKeyModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	certs := func(args ...string) {
		t.Helper()
		var out strings.Builder
		if err := Certs(context.Background(), args, &out, io.Discard); err != nil {
			t.Fatalf("certs %v: %v", args, err)
		}
	}
	certs("ca", "--dir", dir)
	certs("server", "--dir", dir, "--name", "coord-1", "--san", "127.0.0.1")
	certs("probe", "--dir", dir, "--name", "sql01", "--site", "sql")
	// A key someone made readable by all is replaced by a private one.
	if err := os.WriteFile(filepath.Join(dir, "alice.key"), []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	certs("operator", "--dir", dir, "--name", "alice", "--force")
	mesh := filepath.Join(dir, "mesh.key")
	certs("mesh-key", "--out", mesh)

	for name, want := range map[string]os.FileMode{
		"ca.key": 0o600, "coord-1.key": 0o600, "sql01.key": 0o600, "alice.key": 0o600, "mesh.key": 0o600,
		"ca.crt": 0o644, "coord-1.crt": 0o644, "sql01.crt": 0o644, "alice.crt": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 9 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files %v, want the 9 above and no temporary file", names)
	}
	// What was written is what the readers load.
	if _, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")); err != nil {
		t.Errorf("load the CA: %v", err)
	}
	if _, err := meshkey.Load(mesh); err != nil {
		t.Errorf("load the mesh key: %v", err)
	}
}

// --acl-account is for Windows: refused here, before any file is written.
func TestCertsACLAccountRefused(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"ca", "--dir", dir, "--acl-account", `NT SERVICE\linkmesh-probe`},
		{"mesh-key", "--out", filepath.Join(dir, "mesh.key"), "--acl-account", `NT SERVICE\linkmesh-probe`},
	} {
		err := Certs(context.Background(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "Windows") {
			t.Errorf("certs %v: err %v, want a refusal naming Windows", args, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files written: %v", ents)
	}
}
