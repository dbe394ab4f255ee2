package sqlserver

import (
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
