//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

const killChildEnv = "LINKMESH_E2E_KILL_CHILD"

// TestLabKilledRunLeavesNothingBehind runs a whole lab mesh in a child test
// process, kills that process with SIGKILL (no cleanup can run), and checks that
// every process it started and every network namespace it made are gone.
func TestLabKilledRunLeavesNothingBehind(t *testing.T) {
	netlab.New(t) // skips (or fails in CI) when the lab cannot run; also records the run
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledLabChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), killChildEnv+"=1", "LINKMESH_LAB_RAN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var netns []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "KILLME "); ok {
			for _, f := range strings.Fields(rest) {
				if p, err := strconv.Atoi(f); err == nil {
					pids = append(pids, p)
				} else {
					netns = append(netns, f)
				}
			}
			break
		}
	}
	if len(pids) == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the child never reported its processes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var alive []int
	var held []string
	if !waitfor.Poll(10*time.Second, func() bool {
		alive, held = livePids(pids), holders(netns)
		return len(alive) == 0 && len(held) == 0
	}) {
		t.Fatalf("10 s after kill -9: processes still alive %v; namespaces still held by %v", alive, held)
	}
	t.Logf("after kill -9 of the test process: %d processes and %d namespaces all gone", len(pids), len(netns))
}

// TestKilledLabChild is the child of TestLabKilledRunLeavesNothingBehind: it builds
// a lab mesh, prints the pids and namespaces, and waits to be killed.
func TestKilledLabChild(t *testing.T) {
	if os.Getenv(killChildEnv) == "" {
		t.Skip("runs only as the child of TestLabKilledRunLeavesNothingBehind")
	}
	lab := netlab.New(t)
	bin := netlab.BuildLinkmesh(t)
	var fields []string
	seen := map[string]bool{}
	for _, h := range []*netlab.Host{lab.Router(), lab.SQL(), lab.MI()} {
		p := startProcess(t, h, h.Name()+"-sleeper", bin, "demo", "--duration", "2m")
		fields = append(fields, strconv.Itoa(h.Pid()), strconv.Itoa(p.Process.Pid))
		ns, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(h.Pid()), "ns/net"))
		if err != nil {
			t.Fatal(err)
		}
		if !seen[ns] {
			seen[ns] = true
			fields = append(fields, strings.NewReplacer(":", "", "[", "", "]", "").Replace(ns))
		}
	}
	fmt.Printf("KILLME %s\n", strings.Join(fields, " "))
	time.Sleep(60 * time.Second) // bounded: the parent kills us long before
	t.Error("the parent did not kill the child")
}

func livePids(pids []int) []int {
	var alive []int
	for _, p := range pids {
		if err := syscall.Kill(p, 0); err == nil {
			// a zombie still answers kill(0); it holds no namespace, but report it
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(st), ") Z ") {
				alive = append(alive, p)
			}
		}
	}
	return alive
}

// holders returns processes whose network namespace is one of ns ("net1234").
func holders(ns []string) []string {
	want := map[string]bool{}
	for _, n := range ns {
		want["net:["+strings.TrimPrefix(n, "net")+"]"] = true
	}
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if link, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns/net")); err == nil && want[link] {
			out = append(out, e.Name())
		}
	}
	return out
}
