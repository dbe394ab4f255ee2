package statedir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
)

func TestSaveLoadLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := d.Load(); err != nil || c != nil {
		t.Fatalf("empty dir: got %v, %v; want nil, nil", c, err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "in use by another coordinator") {
		t.Errorf("second Open of a locked dir: %v", err)
	}
	want := &pathstate.Checkpoint{Version: pathstate.CheckpointVersion, Taken: time.Unix(1e9, 0).UTC(),
		Probes: []pathstate.ProbeCheckpoint{{Name: "sql01", Site: "sql", Epoch: 3, Seq: 42}}}
	if err := d.Save(want); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crash mid-write changes nothing.
	if err := os.WriteFile(filepath.Join(dir, stateFile+".tmp-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load()
	if err != nil || got == nil || got.Probes[0].Seq != 42 || !got.Taken.Equal(want.Taken) {
		t.Fatalf("Load: got %+v, %v", got, err)
	}
	d.Close()
	d2, err := Open(dir)
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	defer d2.Close()
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Load(); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("a damaged checkpoint: %v", err)
	}
}
