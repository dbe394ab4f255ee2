//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
)

// TestLabContainerProbe: the MI-side probe's container image, as built by
// deploy/container/build.sh, works as a probe. `podman run` does not work on
// our machines, so the test runs what the runtime would: the image's
// entrypoint, as the image's user, chrooted into a copy of its root file
// system (with /etc/linkmesh mounted, as docs/container.md does), in the
// lab's mi host. It reports to the coordinator, measures sql1 and is
// measured by it: tcp and echo up both ways, and its spool lives in the
// image's volume, written by the image's user.
func TestLabContainerProbe(t *testing.T) {
	rootfs, cfgFile := os.Getenv("LINKMESH_IMAGE_ROOTFS"), os.Getenv("LINKMESH_IMAGE_CONFIG")
	if rootfs == "" || cfgFile == "" {
		t.Skip("no image: run deploy/container/build.sh, then set LINKMESH_IMAGE_ROOTFS=dist/image/rootfs and LINKMESH_IMAGE_CONFIG=dist/image/config.json (.ci/run does)")
	}
	data, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	var img struct {
		User       string
		Entrypoint []string
	}
	if err := json.Unmarshal(data, &img); err != nil || len(img.Entrypoint) == 0 || img.User == "" {
		t.Fatalf("%s: %v; want the image's User and Entrypoint", cfgFile, err)
	}
	if strings.HasPrefix(img.User, "0") || img.User == "root" {
		t.Fatalf("the image runs as %q: want an unprivileged user", img.User)
	}
	chroot, err := exec.LookPath("chroot")
	if err != nil {
		t.Fatal(err)
	}
	lab := netlab.New(t)
	m := startLabMeshSites(t, lab, `
defaults: {interval: 1s, timeout: 1s}
stale_after: 10s
paths:
  - {name: tcp, from: {site: sql}, to: {site: mi}}
  - {name: tcp-back, from: {site: mi}, to: {site: sql}}
  - {name: echo, from: {site: sql}, to: {site: mi}, kind: echo, echo: {mtu_every: 0s}}
  - {name: echo-back, from: {site: mi}, to: {site: sql}, kind: echo, echo: {mtu_every: 0s}}
`, nil, "sql")

	root := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", rootfs, root).CombinedOutput(); err != nil {
		t.Fatalf("copy the image's root file system: %v\n%s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc", "linkmesh"), 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(m.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "linkmesh", "mesh.key"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	coord := net.JoinHostPort(lab.Router().AddrToward(lab.MI()).String(), fmt.Sprint(labGRPC))
	args := append([]string{"--userspec=" + img.User, root}, img.Entrypoint...)
	args = append(args, "--name", "mi1", "--coordinator", coord, "--insecure", "--mesh-key-file", "/etc/linkmesh/mesh.key", "--log-level", "debug")
	probe := startProcess(t, lab.MI(), "mi-probe-image", chroot, args...)

	_, took := m.wait(t, 30*time.Second, "tcp and echo up both ways with the image's probe", func(s series) bool {
		for _, p := range [][2]string{{"sql1", "mi1"}, {"mi1", "sql1"}} {
			for _, kind := range []string{"tcp", "echo"} {
				if v, ok := kindValue(s, "linkmesh_path_up", p[0], p[1], labResponder, kind); !ok || v != 1 {
					return false
				}
			}
		}
		return true
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", probe.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	uid, _, _ := strings.Cut(img.User, ":")
	if !strings.Contains(string(status), "\nUid:\t"+uid+"\t") {
		t.Errorf("the probe does not run as the image's user %s:\n%s", img.User, status)
	}
	spool, err := os.Stat(filepath.Join(root, "var", "lib", "linkmesh-probe", "spool"))
	if err != nil {
		t.Fatalf("no spool in the image's volume: %v", err)
	}
	if st := spool.Sys().(*syscall.Stat_t); fmt.Sprint(st.Uid) != uid {
		t.Errorf("the spool belongs to uid %d, want the image's user %s", st.Uid, uid)
	}
	report(t, "the probe's container image (entrypoint as user "+img.User+" in its root file system) in the mi host",
		fmt.Sprintf("tcp and echo up both ways %.1f s after the coordinator was ready", took.Seconds()))
}
