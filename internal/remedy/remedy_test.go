package remedy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestForPath(t *testing.T) {
	tests := []struct {
		name        string
		p           Path
		wantFor     string
		wantSummary string
		wantCommand string // in some step
	}{
		{"p1 timeout", Path{Kind: "tcp", SourceSite: "sql", TargetSite: "mi", Target: "10.0.1.254", Port: 5022, Result: "timeout"},
			ForNetwork, "The SQL Server side gets no answer from 10.0.1.254 TCP 5022: the packets are dropped on the way.",
			"--direction Inbound --access Allow --protocol Tcp --source-address-prefixes <sql-server-host-ip>/32 --destination-address-prefixes <mi-subnet-cidr> --destination-port-ranges 5022"},
		{"p2 range unreachable", Path{Kind: "tcp", SourceSite: "sql", TargetSite: "mi", Target: "10.0.1.254", Port: 11000, PortEnd: 11999, Result: "unreachable"},
			ForNetwork, "a router or firewall on the way refuses them", "--destination-port-ranges 11000-11999"},
		{"p3 timeout", Path{Kind: "tcp", SourceSite: "mi", TargetSite: "sql", Target: "192.168.10.5", Port: 5022, Result: "timeout"},
			ForNetwork, "The MI side gets no answer from 192.168.10.5 TCP 5022",
			"--direction Outbound --access Allow --protocol Tcp --source-address-prefixes <mi-subnet-cidr> --destination-address-prefixes 192.168.10.5/32 --destination-port-ranges 5022"},
		{"p3 refused: the endpoint", Path{Kind: "tcp", SourceSite: "mi", TargetSite: "sql", Target: "sql01", Port: 5022, Result: "refused"},
			ForDBA, "Nothing listens on sql01 TCP 5022 where the MI connects", "FROM sys.tcp_endpoints WHERE type_desc = 'DATABASE_MIRRORING'"},
		{"echo refused: the responder", Path{Kind: "echo", SourceSite: "sql", TargetSite: "mi", Target: "mi1", Port: 5023, Result: "refused"},
			ForNetwork, "the probe responder at mi1 (TCP 5023) is reached, but nothing listens there.", ""},
		{"echo mismatch", Path{Kind: "echo", SourceSite: "mi", TargetSite: "sql", Target: "sql1", Port: 5023, Result: "mismatch"},
			ForNetwork, "Something other than the expected probe answers", ""},
		{"dns mismatch", Path{Kind: "dns", SourceSite: "sql", TargetSite: "mi", Target: "mi1.x.database.windows.net", Result: "mismatch"},
			ForDNS, "resolves, but to an address outside the range", "Resolve-DnsName mi1.x.database.windows.net"},
		{"reset", Path{Kind: "tcp", SourceSite: "sql", TargetSite: "mi", Target: "10.0.1.254", Port: 5022, Result: "reset"},
			ForNetwork, "are accepted and then cut", ""},
		{"other sites", Path{Kind: "tcp", SourceSite: "dc1", TargetSite: "dc2", Target: "h", Port: 80, Result: "timeout"},
			ForNetwork, "No answer from h TCP 80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ForPath(tt.p)
			if f == nil {
				t.Fatal("no fix")
			}
			if f.For != tt.wantFor || !strings.Contains(f.Summary, tt.wantSummary) {
				t.Errorf("fix for %q: %q; want for %q, summary with %q", f.For, f.Summary, tt.wantFor, tt.wantSummary)
			}
			if len(f.Steps) == 0 {
				t.Errorf("no steps")
			}
			if tt.wantCommand != "" && !strings.Contains(f.Rendered(), tt.wantCommand) {
				t.Errorf("no step runs %q:\n%s", tt.wantCommand, f.Rendered())
			}
		})
	}
	for _, r := range []string{"ok", "", "nonsense"} {
		if f := ForPath(Path{Kind: "tcp", SourceSite: "sql", TargetSite: "mi", Result: r}); f != nil {
			t.Errorf("result %q: a fix %q, want none", r, f.Summary)
		}
	}
}

// TestDocAnchorsExist: every anchor DocAnchor gives is a heading of
// docs/results.md, so the status page's links land on the right section.
func TestDocAnchorsExist(t *testing.T) {
	b, err := os.ReadFile("../../docs/results.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
		}
	}
	for result, a := range docAnchors {
		if !anchors[a] {
			t.Errorf("result %s: docs/results.md has no heading with anchor #%s", result, a)
		}
	}
	for _, r := range []string{"timeout", "refused", "unreachable", "dns", "reset", "mismatch", "error"} {
		if DocAnchor(r) == "" {
			t.Errorf("result %s has no section", r)
		}
	}
}
