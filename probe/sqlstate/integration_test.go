package sqlstate

import (
	"os"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/mssql"
)

// TestIntegration reads a real SQL Server named by $LINKMESH_TEST_MSSQL_DSN
// (or an MI by $LINKMESH_TEST_MI_DSN): every query must run — the columns it
// names exist on that version — whether or not a link is configured there
// (without one, the link's series are simply absent).
func TestIntegration(t *testing.T) {
	ran := false
	for _, env := range []string{"LINKMESH_TEST_MSSQL_DSN", "LINKMESH_TEST_MI_DSN"} {
		dsn := os.Getenv(env)
		if dsn == "" {
			continue
		}
		ran = true
		t.Run(env, func(t *testing.T) {
			db, err := mssql.Open(dsn)
			if err != nil {
				t.Fatalf("%s: %v", env, err)
			}
			defer db.Close()
			r := New(Config{Querier: db, Probe: "integration", Timeout: 15 * time.Second})
			rd := r.read(t.Context())
			if rd.err != nil {
				t.Fatalf("reading the link's views: %v", rd.err)
			}
			t.Logf("%d remote replicas, %d linked databases, %d seeding, %d endpoint certificates", len(rd.replicas), len(rd.databases), len(rd.seeding), len(rd.certs))
		})
	}
	if !ran {
		t.Skip("neither LINKMESH_TEST_MSSQL_DSN nor LINKMESH_TEST_MI_DSN is set: set one to read a real server's link views (e.g. sqlserver://sa:<password>@localhost:1433?database=master&TrustServerCertificate=true)")
	}
}
