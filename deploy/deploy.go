// Package deploy ships linkmesh's deployment files — the Prometheus alert rules,
// scrape and Alertmanager examples, and the Grafana dashboard — embedded. Tests
// (deploy's own, internal/dashboard's typed view of the dashboard, and the lab
// tests in internal/e2e that run them against a real Prometheus) read the files
// through this package so that they check exactly what is shipped.
package deploy

import "embed"

// Files holds the shipped files, by their path under deploy/.
//
//go:embed prometheus/*.yml grafana/dashboards/*.json grafana/provisioning/*/*.yml
var Files embed.FS

// Paths of the shipped files inside Files.
const (
	RulesFile     = "prometheus/linkmesh-rules.yml"
	RuleTestsFile = "prometheus/linkmesh-rules.test.yml"
	DashboardFile = "grafana/dashboards/linkmesh.json"
)
