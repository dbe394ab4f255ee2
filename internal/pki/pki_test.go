package pki

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Write stores a key its owner only can read (mode 0600; on Windows an ACL,
// see internal/keyfile), refuses to replace files without force, and the CA
// it wrote loads back.
func TestPairWrite(t *testing.T) {
	_, pair, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := pair.Write(cert, key, false); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(cert, key); err != nil {
		t.Fatalf("load what was written: %v", err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key: %v, err %v; want mode 0600", fi.Mode(), err)
		}
		if fi, err := os.Stat(cert); err != nil || fi.Mode().Perm()&^0o644 != 0 {
			t.Errorf("certificate: %v, err %v; want mode 0644 at most", fi.Mode(), err)
		}
	}
	_, other, err := NewCA("other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Write(cert, key, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("Write over existing files without force: err %v, want a refusal that names --force", err)
	}
	if err := other.Write(cert, key, true); err != nil {
		t.Fatalf("Write with force: %v", err)
	}
	if got, _ := os.ReadFile(key); string(got) != string(other.KeyPEM) {
		t.Error("the forced Write did not replace the key")
	}
}
