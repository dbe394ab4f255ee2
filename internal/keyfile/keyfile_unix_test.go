//go:build !windows

package keyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// underWine: not on this platform.
func underWine() bool { return false }

// A key file is mode 0600 whatever the umask, also when it replaces a file
// that was readable by others, and the temporary file is 0600 before any
// byte is written.
func TestWriteMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := tempDir(t)
	path := filepath.Join(dir, "ca.key")
	if err := os.WriteFile(path, []byte("old, world-readable"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("secret\n"), Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(path); string(got) != "secret\n" {
		t.Errorf("content %q", got)
	}

	tmp := filepath.Join(dir, "empty")
	f, err := createSecret(tmp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := os.Stat(tmp); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 0 {
		t.Errorf("temporary file before the write: %v, err %v; want empty and 0600", fi.Mode(), err)
	}
	if _, err := createSecret(tmp, Options{}); !os.IsExist(err) {
		t.Errorf("createSecret over an existing file: err %v, want it to exist", err)
	}
}

// An ACL account means nothing here: refused, and nothing is written.
func TestWriteRefusesAccount(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "mesh.key")
	err := Write(path, []byte("x"), Options{Account: `NT SERVICE\linkmesh-probe`})
	if err == nil || !strings.Contains(err.Error(), "Windows") {
		t.Fatalf("err %v, want a refusal that says the account is for Windows", err)
	}
	if extra := leftovers(t, dir); len(extra) > 0 {
		t.Errorf("left behind: %v", extra)
	}
}

// A reader of the path sees the old file or the whole new one, never a part,
// and no temporary file is left behind. (Not on Windows: there a rename over a
// file another handle has open fails, and Write returns that error.)
func TestWriteIsAtomic(t *testing.T) {
	dir := tempDir(t)
	path := filepath.Join(dir, "probe.key")
	a := bytes.Repeat([]byte("a"), 64<<10)
	b := bytes.Repeat([]byte("b"), 100<<10)
	if err := Write(path, a, Options{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var reads, bad int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends when the writer below closes done
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("read during the writes: %v", err)
				return
			}
			reads++
			if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				bad++
			}
		}
	}()
	for i := range 200 {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := Write(path, data, Options{}); err != nil {
			close(done)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of %d reads saw a partial file", bad, reads)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, a) {
		t.Errorf("final content: %d bytes, err %v; want the last write (%d bytes of a)", len(got), err, len(a))
	}
	if extra := leftovers(t, dir, "probe.key"); len(extra) > 0 {
		t.Errorf("left behind: %v", extra)
	}
	if bad == 0 {
		t.Logf("%d concurrent reads, all whole", reads)
	}
}

// TestWriteGroup: with Options.Group the key is 0640 and belongs to that
// group (here the test's own primary group, which any user may give a file
// it owns); an unknown group is refused before anything is written.
func TestWriteGroup(t *testing.T) {
	dir := tempDir(t)
	gid := os.Getgid()
	path := filepath.Join(dir, "probe.key")
	if err := Write(path, []byte("secret\n"), Options{Group: strconv.Itoa(gid)}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 || int(fi.Sys().(*syscall.Stat_t).Gid) != gid {
		t.Errorf("mode %v, gid %d; want 0640 and gid %d", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, gid)
	}
	err = Write(filepath.Join(dir, "other.key"), []byte("secret\n"), Options{Group: "no-such-group-linkmesh"})
	if err == nil || !strings.Contains(err.Error(), "no such group") {
		t.Errorf("unknown group: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left behind: %v", ents)
	}
}
