package sqlserver

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// TestIntegration runs the readiness rows against a real SQL Server named by
// $LINKMESH_TEST_MSSQL_DSN. The server need not be ready for a link: the test
// checks that every query ran and was read (no "cannot read"), not the verdicts.
func TestIntegration(t *testing.T) {
	dsn := os.Getenv("LINKMESH_TEST_MSSQL_DSN")
	if dsn == "" {
		t.Skip("LINKMESH_TEST_MSSQL_DSN is not set: set it to a SQL Server connection string (e.g. sqlserver://sa:<password>@localhost:1433?database=master&TrustServerCertificate=true) to run the readiness rows against a real server")
	}
	db, err := Open(dsn)
	if err != nil {
		t.Fatalf("LINKMESH_TEST_MSSQL_DSN: %v", err)
	}
	defer db.Close()
	rows := check.Run(t.Context(), Checks(db, Options{EndpointPort: 5022, Databases: []string{"master", "model"}, Timeout: 15 * time.Second}), nil)
	for _, r := range rows {
		t.Logf("%-20s %-4s %-40s %s", r.ID, r.Status, r.Measured, r.Reason)
		if r.ID == "sql.login" && r.Status != check.Pass {
			t.Fatalf("login: %s", r.Reason)
		}
		if strings.Contains(r.Reason, "cannot read") || strings.Contains(r.Reason, "internal error") {
			t.Errorf("%s: a query was not read: %s", r.ID, r.Reason)
		}
		if r.Status == check.Skip {
			t.Errorf("%s skipped after a successful login: %s", r.ID, r.Reason)
		}
	}
	if v := rows[1]; v.ID != "sql.version" || v.Measured == "" {
		t.Errorf("sql.version: %+v", v)
	} else if _, err := ParseBuild(strings.Fields(v.Measured)[0]); err != nil {
		t.Errorf("sql.version measured %q: %v", v.Measured, err)
	}
}

// TestIntegrationMI runs the MI rows against a real Managed Instance named by
// $LINKMESH_TEST_MI_DSN (and the SQL Server rows beside them when
// $LINKMESH_TEST_MSSQL_DSN is set too): every query must run and be read.
// With $LINKMESH_TEST_MI_AGENT_HOST (the SQL Server host's IP as the MI
// reaches it) it also runs the Agent job test and checks the job is gone.
func TestIntegrationMI(t *testing.T) {
	dsn := os.Getenv("LINKMESH_TEST_MI_DSN")
	if dsn == "" {
		t.Skip("LINKMESH_TEST_MI_DSN is not set: set it to a login on an Azure SQL Managed Instance (e.g. sqlserver://<login>:<password>@<mi-fqdn>:1433?database=master) to run the MI rows against a real MI; LINKMESH_TEST_MI_AGENT_HOST=<SQL Server IP> adds the Agent job test")
	}
	mi, err := Open(dsn)
	if err != nil {
		t.Fatalf("LINKMESH_TEST_MI_DSN: %v", err)
	}
	defer mi.Close()
	src := Sources{MI: mi}
	if d := os.Getenv("LINKMESH_TEST_MSSQL_DSN"); d != "" {
		sql, err := Open(d)
		if err != nil {
			t.Fatalf("LINKMESH_TEST_MSSQL_DSN: %v", err)
		}
		defer sql.Close()
		src.SQL = sql
	}
	s := New(src, Options{EndpointPort: 5022, Timeout: 15 * time.Second})
	n, err := s.MINode(t.Context())
	if err != nil {
		t.Fatalf("MINode: %v", err)
	}
	t.Logf("MI %s: node %s, HADR port %d", n.DNSRecord, n.Host, n.Port)
	for _, r := range check.Run(t.Context(), s.Checks(), nil) {
		t.Logf("%-14s %-4s %-50s %s", r.ID, r.Status, r.Measured, r.Reason)
		if strings.Contains(r.Reason, "cannot read") || strings.Contains(r.Reason, "could not be read") {
			t.Errorf("%s: a query was not read: %s", r.ID, r.Reason)
		}
	}
	host := os.Getenv("LINKMESH_TEST_MI_AGENT_HOST")
	if host == "" {
		t.Log("LINKMESH_TEST_MI_AGENT_HOST is not set: the Agent job test did not run")
		return
	}
	a := AgentTest{Target: netip.MustParseAddr(host), Port: 5022}
	res, err := a.run(t.Context(), mi, 15*time.Second)
	t.Logf("job %s: log %q, status %d, %v", res.name, res.log, res.status, err)
	if res.cleanup != nil {
		t.Errorf("the job was not deleted: %v", res.cleanup)
	}
	left, err := mi.Query(t.Context(), "SELECT COUNT(*) AS n FROM msdb.dbo.sysjobs WHERE name = @p1", res.name)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := asInt(left.Get(0, "n")); n != 0 {
		t.Errorf("job %s is still in msdb", res.name)
	}
}
