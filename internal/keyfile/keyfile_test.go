package keyfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Service SIDs as Windows prints them (sc showsid; well-known services).
func TestServiceSID(t *testing.T) {
	for name, want := range map[string]string{
		"TrustedInstaller": "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
		"MSSQLSERVER":      "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003",
		"mssqlserver":      "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003",
	} {
		if got := serviceSID(name); got != want {
			t.Errorf("serviceSID(%q) = %s, want %s", name, got, want)
		}
	}
	for account, want := range map[string]string{
		`NT SERVICE\linkmesh-probe`: "linkmesh-probe",
		`nt service\x`:              "x",
		`NT SERVICE\`:               "",
		`NT AUTHORITY\SYSTEM`:       "",
		`linkmesh-probe`:            "",
	} {
		got, ok := serviceName(account)
		if got != want || ok != (want != "") {
			t.Errorf("serviceName(%q) = %q, %v; want %q", account, got, ok, want)
		}
	}
}

// tempDir is t.TempDir, except under Wine, where Go's os.RemoveAll fails
// ("unlinkat: Invalid function"): there the folder stays in the Wine prefix.
func tempDir(t *testing.T) string {
	if !underWine() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "keyfile-test")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// leftovers lists the files in dir other than the names given.
func leftovers(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range ents {
		found := false
		for _, n := range names {
			found = found || e.Name() == n
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

// Write replaces an existing file and leaves no temporary file behind.
func TestWriteReplaces(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "probe.key")
	for _, data := range []string{"first\n", "second, longer\n", "3\n"} {
		if err := Write(path, []byte(data), Options{}); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Errorf("read back %q, %v; want %q", got, err, data)
		}
	}
	if extra := leftovers(t, dir, "probe.key"); len(extra) > 0 {
		t.Errorf("left behind: %v", extra)
	}
}

// A write that fails leaves neither the path nor a temporary file.
func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := tempDir(t)
	if err := os.Mkdir(filepath.Join(dir, "mesh.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The rename cannot replace a directory.
	err := Write(filepath.Join(dir, "mesh.key"), []byte("secret\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "mesh.key") {
		t.Fatalf("Write over a directory: err %v, want an error naming the file", err)
	}
	if extra := leftovers(t, dir, "mesh.key"); len(extra) > 0 {
		t.Errorf("left behind: %v", extra)
	}
	if err := Write(filepath.Join(dir, "missing", "mesh.key"), []byte("x"), Options{}); err == nil {
		t.Error("Write into a missing directory: no error")
	}
}
