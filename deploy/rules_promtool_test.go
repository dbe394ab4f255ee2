package deploy

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRulesPromtool runs the shipped rules' unit tests
// (prometheus/linkmesh-rules.test.yml) with promtool, so `go test` covers
// what each alert must and must not do — LinkmeshPathDown,
// LinkmeshPathDegraded, LinkmeshProbeResultsStalled and the rest — and not
// only .ci/run. It skips, saying so, where promtool is not installed (CI
// installs it: Debian's prometheus package).
func TestRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found (Debian package prometheus): the rules' unit tests did not run")
	}
	tests, err := os.ReadFile("prometheus/linkmesh-rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, alert := range []string{"LinkmeshPathDown", "LinkmeshPathDegraded", "LinkmeshProbeResultsStalled", "LinkmeshProbeDown"} {
		if !strings.Contains(string(tests), "alertname: "+alert) {
			t.Errorf("linkmesh-rules.test.yml has no test case for %s", alert)
		}
	}
	cmd := exec.Command(promtool, "test", "rules", "linkmesh-rules.test.yml")
	cmd.Dir = "prometheus"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}
