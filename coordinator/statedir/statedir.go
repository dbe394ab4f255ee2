// Package statedir keeps the coordinator's checkpoint (pathstate.Checkpoint) in a
// directory: each one is written whole to a temporary file, synced, and renamed
// over the previous one (and the directory synced), so a crash at any moment
// leaves the old checkpoint or the new one, never a torn file. A lock held on the
// directory keeps a second coordinator from sharing it; the operating system
// drops the lock when the process dies, so kill -9 never leaves it stuck.
// A Saver writes the store's checkpoint there every interval and commits it,
// which is what lets the coordinator's acks advance.
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
)

const (
	stateFile = "state.json"
	lockFile  = "lock"
)

// Dir is an open, locked state directory.
type Dir struct {
	path string
	lock *os.File
}

// Open creates the directory if needed (mode 0700) and locks it.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(path, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	if err := lock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s is in use by another coordinator (give each its own): %w", path, err)
	}
	return &Dir{path: path, lock: f}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.path }

// Load reads the last checkpoint; it returns nil and no error when there is none.
func (d *Dir) Load() (*pathstate.Checkpoint, error) {
	p := filepath.Join(d.path, stateFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var c pathstate.Checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("checkpoint %s is unreadable (%w); move it away to start with empty state", p, err)
	}
	return &c, nil
}

// Save writes c durably and atomically.
func (d *Dir) Save(c *pathstate.Checkpoint) error {
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	tmp, err := os.CreateTemp(d.path, stateFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(name)
		return fmt.Errorf("write checkpoint: %w", werr)
	}
	if err := os.Rename(name, filepath.Join(d.path, stateFile)); err != nil {
		os.Remove(name)
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := syncDir(d.path); err != nil {
		return fmt.Errorf("write checkpoint: sync %s: %w", d.path, err)
	}
	return nil
}

// Close releases the lock.
func (d *Dir) Close() error {
	return d.lock.Close()
}
