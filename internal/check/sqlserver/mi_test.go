package sqlserver

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

var (
	miColumns   = []string{"EngineEdition", "ServerName", "LoginName", "IsSysadmin"}
	nodeColumns = []string{"DnsRecordName", "ClusterName", "HadrPort", "NodeName"}
)

// goodMI answers the MI's queries as a Managed Instance does: the node and
// port as the MI link guidance's sample shows them, its endpoint certificate,
// and a trust view holding SQL Server's certificate.
func goodMI(t *testing.T, cert []byte) *fakeSQL {
	return &fakeSQL{tables: map[string]Table{
		qMI:     {Columns: miColumns, Rows: [][]any{{int64(8), "contoso-instance", "linkmesh@contoso.com", int64(0)}}},
		qNode:   {Columns: nodeColumns, Rows: [][]any{{miFQDN, "tr123456.west-us.worker.database.windows.net", "11002", "DB123"}}},
		qMICert: {Columns: []string{"EndpointCertificatePublicKey"}, Rows: [][]any{{cert}}},
		qTrusted: {Columns: []string{"certificate_id", "name", "thumbprint", "expiry_date"}, Rows: [][]any{
			{int64(1), "SQLPROD01_cert", []byte{0xab, 0xcd, 0xef, 0x01, 0x23}, now.AddDate(2, 0, 0)}}},
	}}
}

func TestMIAllGood(t *testing.T) {
	cert := der(t, miFQDN, now.AddDate(1, 0, 0))
	rows := runTrust(t, trustSQL(cert), goodMI(t, cert))
	for _, id := range []string{"mi.login", "mi.node", "mi.trust", "sql.micert"} {
		if r := rows[id]; r.Status != check.Pass {
			t.Errorf("%s: %s %q (%s)", id, r.Status, r.Reason, r.Measured)
		}
	}
	if r := rows["mi.node"]; r.Measured != "DB123.tr123456.west-us.worker.database.windows.net:11002 (MI "+miFQDN+")" {
		t.Errorf("mi.node measured %q", r.Measured)
	}
	if r := rows["sql.micert"]; !strings.Contains(r.Reason, "the same certificate the MI authenticates with now") {
		t.Errorf("sql.micert: %q", r.Reason)
	}
	s := New(Sources{MI: goodMI(t, cert)}, Options{MI: miFQDN, Timeout: time.Second})
	n, err := s.MINode(t.Context())
	if err != nil || n != (Node{DNSRecord: miFQDN, Host: "DB123.tr123456.west-us.worker.database.windows.net", Port: 11002}) {
		t.Errorf("MINode = %+v, %v", n, err)
	}
}

func TestMIRows(t *testing.T) {
	cert := der(t, miFQDN, now.AddDate(1, 0, 0))
	renewed := der(t, miFQDN, now.AddDate(2, 0, 0))
	tests := []struct {
		name   string
		sql    func(*fakeSQL)
		mi     func(*fakeSQL)
		id     string
		status check.Status
		reason string
	}{
		{"login fails", nil, func(q *fakeSQL) { q.pingErr = errors.New("login error: Login failed for user 'linkmesh'") }, "mi.login", check.Fail, "Login failed"},
		{"not an MI", nil, func(q *fakeSQL) { q.tables[qMI].Rows[0][0] = int64(3) }, "mi.login", check.Fail, "not an Azure SQL Managed Instance"},
		{"not an MI skips the rest", nil, func(q *fakeSQL) { q.tables[qMI].Rows[0][0] = int64(3) }, "mi.node", check.Skip, "not an Azure SQL Managed Instance"},
		{"another MI", nil, func(q *fakeSQL) { q.tables[qNode].Rows[0][0] = "other.12345678.database.windows.net" }, "mi.node", check.Fail, "reaches MI other.12345678"},
		{"no primary", nil, func(q *fakeSQL) { q.tables[qNode].Rows[0][3] = nil }, "mi.node", check.Fail, "name no primary node"},
		{"a node name that is not a host name", nil, func(q *fakeSQL) { q.tables[qNode].Rows[0][3] = "DB1 & calc" }, "mi.node", check.Fail, "is not a host name"},
		{"a port that is not a port", nil, func(q *fakeSQL) { q.tables[qNode].Rows[0][2] = "70000" }, "mi.node", check.Fail, "is not a TCP port"},
		{"fabric views denied", nil, func(q *fakeSQL) {
			q.errs = map[string]error{qNode: errors.New("VIEW SERVER STATE permission was denied")}
		}, "mi.node", check.Fail, "permission was denied"},
		{"MI cert renewed", nil, func(q *fakeSQL) { q.tables[qMICert].Rows[0][0] = renewed }, "sql.micert", check.Fail, "not the one the MI authenticates with now"},
		{"MI cert unreadable", nil, func(q *fakeSQL) { q.tables[qMICert].Rows[0][0] = []byte("garbage") }, "sql.micert", check.Warn, "not a certificate"},
		{"SQL cert not trusted", nil, func(q *fakeSQL) { q.tables[qTrusted].Rows[0][2] = []byte{9, 9} }, "mi.trust", check.Fail, "error 41973"},
		{"nothing trusted", nil, func(q *fakeSQL) { q.tables[qTrusted] = Table{Columns: q.tables[qTrusted].Columns} }, "mi.trust", check.Fail, "does not trust"},
		{"trust view without thumbprints", nil, func(q *fakeSQL) {
			q.tables[qTrusted] = Table{Columns: []string{"name"}, Rows: [][]any{{"SQLPROD01_cert"}}}
		}, "mi.trust", check.Warn, "unknown"},
		{"trust view unreadable", nil, func(q *fakeSQL) { q.errs = map[string]error{qTrusted: errors.New("Invalid object name")} }, "mi.trust", check.Warn, "Invalid object name"},
		{"no SQL login", func(q *fakeSQL) { q.pingErr = errors.New("no") }, nil, "mi.trust", check.Skip, "see sql.login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sql, mi := trustSQL(cert), goodMI(t, cert)
			if tt.sql != nil {
				tt.sql(sql)
			}
			if tt.mi != nil {
				tt.mi(mi)
			}
			r := runTrust(t, sql, mi)[tt.id]
			if r.Status != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("%s: %s %q, want %s %q", tt.id, r.Status, r.Reason, tt.status, tt.reason)
			}
			if r.Status == check.Fail && r.Fix == nil {
				t.Errorf("a failure without a fix: %+v", r)
			}
		})
	}
	// Without --sql-dsn the MI rows still run; mi.trust says what it lacks.
	rows := runTrust(t, nil, goodMI(t, cert))
	if r := rows["mi.trust"]; r.Status != check.Skip || !strings.Contains(r.Reason, "give --sql-dsn") {
		t.Errorf("mi.trust without --sql-dsn: %+v", r)
	}
	if _, ok := rows["sql.login"]; ok {
		t.Error("SQL Server rows without --sql-dsn")
	}
}
