package meshkey

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mesh.key")
	if err := Write(path, k); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, k) {
		t.Fatalf("loaded %x, want %x", got, k)
	}
	// On Windows the mode bits say nothing (the ACL does: internal/keyfile).
	if st, _ := os.Stat(path); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not base64", "not-a-key!", "not base64"},
		{"too short", "c2hvcnQ=", "decodes to 5 bytes, want 32"},
		{"empty", "", "decodes to 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadRing(t *testing.T) {
	a, _ := Generate()
	b, _ := Generate()
	path := filepath.Join(t.TempDir(), "mesh.key")
	text := "# rotation: new key first, old key still accepted\n" + Encode(b) + "\n\n" + Encode(a) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	primary, accepted, err := LoadRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(primary, b) || len(accepted) != 1 || !bytes.Equal(accepted[0], a) {
		t.Fatalf("got primary %x accepted %x, want %x and [%x]", primary, accepted, b, a)
	}
	if err := os.WriteFile(path, []byte(Encode(a)+"\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadRing(path); err == nil || !strings.Contains(err.Error(), "mesh.key:2:") {
		t.Fatalf("got %v, want an error naming line 2", err)
	}
}
