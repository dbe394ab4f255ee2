//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWineMSI installs, upgrades and removes the MSI that
// deploy/windows/build-msi.sh builds, with Wine's msiexec, as far as Wine
// allows (docs/windows.md):
//
//  1. a first install given PROBEARGS runs `linkmesh.exe service install`;
//     under Wine that exits 1 (no delayed start or recovery actions), so the
//     installation fails and its files are rolled back — a failed step is
//     not an installed product;
//  2. an install without PROBEARGS puts linkmesh.exe in Program Files (it runs
//     and names its commit) and creates C:\ProgramData\linkmesh; the start
//     step finds no service and succeeds;
//  3. with a service registered on that binary (by hand), an upgrade to a
//     newer MSI stops it, replaces the binary and removes the old product.
//     On Windows the service stays; Wine removes the old product with
//     "msiexec /i {code} REMOVE=ALL" and no UPGRADINGPRODUCTCODE, so there
//     the old product's uninstall step removes it too;
//  4. uninstalling removes the service with the files.
func TestWineMSI(t *testing.T) {
	wine := wineEnv(t)
	for _, tool := range []string{"wixl", "msiinfo", "msibuild"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: apt-get install wixl msitools (.ci/run does)", tool)
		}
	}
	dir := t.TempDir()
	exe := buildWindows(t, dir) // to read and remove the service whatever the MSI did
	v1 := buildMSI(t, "0.0.1", filepath.Join(dir, "v1"))
	v2 := buildMSI(t, "0.0.2", filepath.Join(dir, "v2"))
	installed := filepath.Join(os.Getenv("WINEPREFIX"), "drive_c", "Program Files", "linkmesh", "linkmesh.exe")
	const installedWin = `C:\Program Files\linkmesh\linkmesh.exe`

	run := func(prog string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, _ := execWine(ctx, wine, prog, args...)
		if ctx.Err() != nil {
			t.Fatalf("%s %s did not end", prog, strings.Join(args, " "))
		}
		return out.text, out.code
	}
	step := 0
	msiexec := func(args ...string) (code int, log string) {
		t.Helper()
		step++
		logFile := filepath.Join(dir, "msiexec-"+string(rune('0'+step))+".log")
		_, code = run("msiexec", append(append([]string{}, args...), "/qn", "/l*v", winPath(logFile))...)
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatalf("msiexec %s wrote no log: %v", strings.Join(args, " "), err)
		}
		return code, string(b)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	t.Cleanup(func() {
		run("msiexec", "/x", winPath(v2), "/qn")
		run("msiexec", "/x", winPath(v1), "/qn")
		run(exe, "service", "uninstall", "--if-installed")
	})

	// 1. A first install whose service step fails is rolled back.
	code, log := msiexec("/i", winPath(v1), "PROBEARGS=--site sql --name sql01 --coordinator 127.0.0.1:7022 --insecure --no-gossip")
	if code == 0 {
		t.Errorf("install with PROBEARGS under Wine: exit 0, want a failure (the service step exits 1 here)\n%s", log)
	}
	for _, want := range []string{"Action start", "LinkmeshServiceInstallRollback.", "LinkmeshServiceInstall.", "PROBEARGS = --site sql --name sql01"} {
		if !strings.Contains(log, want) {
			t.Errorf("msiexec log lacks %q", want)
		}
	}
	if exists(installed) {
		t.Errorf("%s is left after a failed install", installed)
	}
	// Wine's msiexec does not run rollback custom actions (on Windows,
	// LinkmeshServiceInstallRollback removes the service): remove it here.
	if out, _ := run(exe, "service", "status"); !strings.Contains(out, "does not exist") {
		t.Logf("after the failed install the service is left (Wine runs no rollback custom action):\n%s", out)
	}
	run(exe, "service", "uninstall", "--if-installed")

	// 2. Files only.
	code, log = msiexec("/i", winPath(v1))
	if code != 0 {
		t.Fatalf("install without PROBEARGS: exit %d\n%s", code, log)
	}
	if !exists(installed) {
		t.Fatalf("no %s after the install", installed)
	}
	if !strings.Contains(log, "Action start") || !strings.Contains(log, "LinkmeshServiceStart.") {
		t.Errorf("the start step did not run:\n%s", log)
	}
	if out, code := run(installed, "version"); code != 0 || !strings.Contains(out, "linkmesh v") || !strings.Contains(out, "windows/amd64") {
		t.Errorf("the installed linkmesh.exe version: exit %d: %s", code, out)
	}
	if fi, err := os.Stat(filepath.Join(os.Getenv("WINEPREFIX"), "drive_c", "ProgramData", "linkmesh")); err != nil || !fi.IsDir() {
		t.Errorf("C:\\ProgramData\\linkmesh: %v", err)
	}

	// 3. A service on the installed binary, then an upgrade.
	out, _ := run(installed, "service", "install", "--", "--site", "sql", "--name", "sql01",
		"--coordinator", "127.0.0.1:7022", "--insecure", "--no-gossip")
	if !strings.Contains(out, `created service linkmesh-probe as NT SERVICE\linkmesh-probe: "`+installedWin+`" probe`) {
		t.Fatalf("service install on the installed binary:\n%s", out)
	}
	code, log = msiexec("/i", winPath(v2), "STARTSERVICE=0")
	if code != 0 {
		t.Fatalf("upgrade: exit %d\n%s", code, log)
	}
	for _, want := range []string{"WIX_UPGRADE_DETECTED", "LinkmeshServiceStop.", "RemoveExistingProducts"} {
		if !strings.Contains(log, want) {
			t.Errorf("upgrade log lacks %q", want)
		}
	}
	if !exists(installed) {
		t.Fatalf("the upgrade removed %s", installed)
	}
	out, _ = run(exe, "service", "status")
	t.Logf("after the upgrade (Wine removes the old product as an uninstall, so its service goes too):\n%s", out)

	// 4. Uninstall: the service goes with the files.
	if out, _ := run(installed, "service", "install", "--", "--site", "sql", "--name", "sql01",
		"--coordinator", "127.0.0.1:7022", "--insecure", "--no-gossip"); !strings.Contains(out, "service linkmesh-probe as NT SERVICE") {
		t.Fatalf("service install on the upgraded binary:\n%s", out)
	}
	code, log = msiexec("/x", winPath(v2))
	if code != 0 {
		t.Fatalf("uninstall: exit %d\n%s", code, log)
	}
	if !strings.Contains(log, "LinkmeshServiceUninstall.") {
		t.Errorf("the uninstall step did not run:\n%s", log)
	}
	if exists(installed) {
		t.Errorf("%s is left after uninstall", installed)
	}
	if out, _ := run(exe, "service", "status"); !strings.Contains(out, "does not exist") {
		t.Errorf("the service is left after uninstall:\n%s", out)
	}
}

// buildMSI runs deploy/windows/build-msi.sh with the MSI version given,
// writing into dir, and returns the MSI's path.
func buildMSI(t *testing.T, version, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "deploy/windows/build-msi.sh")
	cmd.Dir = "../.." // the module root, from internal/e2e
	cmd.Env = append(os.Environ(), "LINKMESH_MSI_VERSION="+version, "LINKMESH_DIST="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-msi.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
