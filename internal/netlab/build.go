package netlab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// linkmeshBuild is the one build of the linkmesh binary per test binary run.
var linkmeshBuild struct {
	once sync.Once
	path string
	err  error
}

// BuildLinkmesh builds the linkmesh binary (the module's root main package)
// once per test binary run and returns its path; it fails the test if the
// build fails. End-to-end tests call it and start the binary in hosts with
// Host.Command and Host.Start.
//
// It is built as the packages are (deploy/packaging/build.sh,
// deploy/windows/build-msi.sh): without cgo, with -trimpath and without the
// symbol table, so the lab runs, and its footprint figures measure, the
// binary that ships (a cgo build also maps the C library: 1.4 MiB more of a
// probe's resident set).
//
// The binary goes to a fixed per-module directory under os.TempDir and is
// replaced atomically, so runs do not pile up binaries and a test binary
// running at the same time keeps a whole file.
func BuildLinkmesh(tb testing.TB) string {
	tb.Helper()
	linkmeshBuild.once.Do(func() {
		start := time.Now()
		linkmeshBuild.path, linkmeshBuild.err = buildLinkmesh()
		if linkmeshBuild.err == nil {
			tb.Logf("netlab: built %s in %v", linkmeshBuild.path, time.Since(start).Round(time.Millisecond))
		}
	})
	if linkmeshBuild.err != nil {
		tb.Fatalf("netlab: build linkmesh: %v", linkmeshBuild.err)
	}
	return linkmeshBuild.path
}

func buildLinkmesh() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	root, err := moduleRoot(ctx, goTool)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "linkmesh-netlab-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("make build dir: %w", err)
	}
	exe := "linkmesh"
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s-%d", exe, os.Getpid()))
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", tmp, "github.com/linkmesh/linkmesh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build in %s: %w: %s", root, err, strings.TrimSpace(string(out)))
	}
	final := filepath.Join(dir, exe)
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("install binary: %w", err)
	}
	return final, nil
}

// moduleRoot finds the directory of linkmesh's go.mod: from the test's
// working directory (go test runs tests in their package directory), or
// else from this source file's directory.
func moduleRoot(ctx context.Context, goTool string) (string, error) {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dirs = append(dirs, filepath.Dir(file))
	}
	for _, dir := range dirs {
		cmd := exec.CommandContext(ctx, goTool, "env", "GOMOD")
		cmd.Dir = dir
		out, err := cmd.Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			continue
		}
		if isLinkmeshModule(gomod) {
			return filepath.Dir(gomod), nil
		}
	}
	return "", fmt.Errorf("no go.mod of github.com/linkmesh/linkmesh above %v", dirs)
}

// isLinkmeshModule reports whether the go.mod at path declares linkmesh.
func isLinkmeshModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == "github.com/linkmesh/linkmesh"
		}
	}
	return false
}
