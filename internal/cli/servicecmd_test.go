package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestServiceSpec: what `linkmesh service install` runs and opens, from the
// probe flags: relative files made absolute in --dir, a log file, spool and
// plan cache there unless given, the key files to restrict, and one firewall
// rule per port the flags open.
func TestServiceSpec(t *testing.T) {
	s := serviceSpec{Name: "linkmesh-probe", Dir: `C:\ProgramData\linkmesh\`, ProbeArgs: []string{
		"--site", "sql", "--name", "sql01", "--coordinator", "coord.example.net:7022",
		"--tls-ca", "ca.crt", "--tls-cert=sql01.crt", "--tls-key", `D:\pki\sql01.key`, "--mesh-key-file", "mesh.key",
		"--stand-in-ports", "5022,5023", "--metrics", ":9023",
	}}
	got := strings.Join(s.Args(), " ")
	want := `probe --site sql --name sql01 --coordinator coord.example.net:7022 --tls-ca C:\ProgramData\linkmesh\ca.crt --tls-cert C:\ProgramData\linkmesh\sql01.crt --tls-key D:\pki\sql01.key --mesh-key-file C:\ProgramData\linkmesh\mesh.key --stand-in-ports 5022,5023 --metrics :9023 --log-file C:\ProgramData\linkmesh\probe.log --spool-dir C:\ProgramData\linkmesh\spool --plan-cache C:\ProgramData\linkmesh\plan.pb --windows-service-name linkmesh-probe`
	if got != want {
		t.Errorf("args:\n got %s\nwant %s", got, want)
	}
	if keys := s.KeyFiles(); !slices.Equal(keys, []string{`D:\pki\sql01.key`, `C:\ProgramData\linkmesh\mesh.key`}) {
		t.Errorf("key files %v", keys)
	}
	var rules []string
	for _, r := range s.FirewallRules() {
		rules = append(rules, r.Name)
	}
	wantRules := []string{"linkmesh-probe responder (TCP 5023)", "linkmesh-probe gossip (TCP 7946)", "linkmesh-probe gossip (UDP 7946)",
		"linkmesh-probe stand-in (TCP 5022)", "linkmesh-probe stand-in (TCP 5023)", "linkmesh-probe metrics (TCP 9023)"}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("firewall rules:\n got %q\nwant %q", rules, wantRules)
	}
	s.ProbeArgs = []string{"--no-gossip", "--responder", ":6000", "--log-file", "x.log"}
	rules = nil
	for _, r := range s.FirewallRules() {
		rules = append(rules, r.Name)
	}
	if !slices.Equal(rules, []string{"linkmesh-probe responder (TCP 6000)", "linkmesh-probe stand-in (TCP 5022)"}) {
		t.Errorf("--no-gossip --responder :6000: rules %q", rules)
	}
	if got := strings.Join(s.Args(), " "); strings.Count(got, "--log-file") != 1 || !strings.Contains(got, `--log-file C:\ProgramData\linkmesh\x.log`) {
		t.Errorf("a given --log-file is kept (made absolute), not doubled: %s", got)
	}
}
