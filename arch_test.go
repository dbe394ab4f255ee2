package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the architecture docs/design.md draws: the probe
// and the coordinator meet only in proto/ (and share only internal/ helpers
// that are neither); proto/ builds on nothing of ours; the check rounds and
// the plans are packages of their own that the coordinator's root wires, and
// path state knows nothing of either.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/linkmesh/linkmesh/"
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		pkg = strings.TrimPrefix(pkg, mod)
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, mod) {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(d, mod))
			}
		}
	}
	under := func(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }
	rules := []struct {
		from, to, why string
	}{
		{"probe", "coordinator", "the probe and the coordinator meet only in proto/"},
		{"coordinator", "probe", "the probe and the coordinator meet only in proto/"},
		{"proto", "probe", "the API builds on nothing of ours"},
		{"proto", "coordinator", "the API builds on nothing of ours"},
		{"proto", "internal", "the API builds on nothing of ours"},
		{"coordinator/pathstate", "coordinator/round", "path state knows nothing of check rounds"},
		{"coordinator/pathstate", "coordinator/plan", "path state knows nothing of plans"},
		{"coordinator/round", "coordinator/plan", "rounds reach plans through round.Plans"},
		{"internal/notify", "", "a leaf"},
		{"internal/waitfor", "", "a leaf"},
	}
	for pkg, deps := range imports {
		if strings.HasPrefix(pkg, "internal/e2e") {
			continue // the end-to-end tests may use everything
		}
		for _, d := range deps {
			for _, r := range rules {
				if under(pkg, r.from) && (r.to == "" || under(d, r.to)) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
	if len(imports["coordinator/round"]) == 0 || len(imports["probe"]) == 0 {
		t.Fatalf("go list found no imports: %v", imports)
	}
}
