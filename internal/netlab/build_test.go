package netlab

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuildLinkmesh builds the linkmesh binary once the root main package
// exists (not named TestLab...: it may skip).
func TestBuildLinkmesh(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "..", "main.go")); err != nil {
		t.Skipf("no root main package yet: %v", err)
	}
	path := BuildLinkmesh(t)
	if again := BuildLinkmesh(t); again != path {
		t.Errorf("second build: got %s, want %s", again, path)
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Errorf("built binary %s is not executable: %v", path, err)
	}
}
