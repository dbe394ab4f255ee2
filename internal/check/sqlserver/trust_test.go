package sqlserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// Query prefixes of the trust rows.
const (
	qTrust        = "SELECT\n  (SELECT COUNT(*) FROM master.sys.symmetric_keys"
	qCertificates = "SELECT c.name"
	qMI           = "SELECT\n  CAST(SERVERPROPERTY('EngineEdition')"
	qNode         = "SELECT\n  (SELECT TOP (1) CAST(value AS nvarchar(512)) FROM sys.dm_hadr_fabric_config_parameters WHERE parameter_name = N'DnsRecordName')"
	qMICert       = "EXEC sp_get_endpoint_certificate"
	qTrusted      = "SELECT * FROM sys.server_trust_certificates"
)

const miFQDN = "contoso-instance.12345678.database.windows.net"

// now is the clock of the trust tests.
var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

var trustColumns = []string{"master_keys", "add_issuer_procs"}

// sys.certificates as go-mssqldb returns it: nvarchar → string, datetime →
// time.Time, varbinary → []byte, the CASE → int64.
var certColumns = []string{"name", "subject", "issuer_name", "expiry_date", "thumbprint", "pvt_key_encryption_type_desc", "is_endpoint_certificate"}

// der is a certificate as sp_get_endpoint_certificate returns it.
func der(t testing.TB, cn string, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: notAfter}
	b, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func thumb(b []byte) []byte { s := sha1.Sum(b); return s[:] }

// trustSQL is goodSQL with a ready trust setup: a master key, the endpoint's
// certificate, the MI's imported under its FQDN, Azure's two roots.
func trustSQL(miCert []byte) *fakeSQL {
	q := goodSQL()
	q.tables[qTrust] = Table{Columns: trustColumns, Rows: [][]any{{int64(1), int64(1)}}}
	q.tables[qCertificates] = Table{Columns: certColumns, Rows: [][]any{
		{"##MS_AgentSigningCertificate##", "MS_AgentSigningCertificate", "MS_AgentSigningCertificate", now.AddDate(10, 0, 0), []byte{1, 2}, "NO_PRIVATE_KEY", int64(0)},
		{"MILinkCert", "MI link endpoint", "MI link endpoint", now.AddDate(2, 0, 0), []byte{0xab, 0xcd, 0xef, 0x01, 0x23}, "ENCRYPTED_BY_MASTER_KEY", int64(1)},
		{miFQDN, "CN=" + miFQDN, "CN=Microsoft Azure RSA TLS Issuing CA 03", now.AddDate(0, 6, 0), thumb(miCert), "NO_PRIVATE_KEY", int64(0)},
		{"DigiCertPKI", "DigiCert Global Root G2", "DigiCert Global Root G2", now.AddDate(12, 0, 0), []byte{3}, "NO_PRIVATE_KEY", int64(0)},
		{"MicrosoftPKI", "Microsoft RSA Root Certificate Authority 2017", "Microsoft RSA Root Certificate Authority 2017", now.AddDate(16, 0, 0), []byte{4}, "NO_PRIVATE_KEY", int64(0)},
	}}
	return q
}

func runTrust(t *testing.T, sql, mi Querier) map[string]check.Row {
	t.Helper()
	s := New(Sources{SQL: sql, MI: mi}, Options{EndpointPort: 5022, MI: miFQDN, Timeout: time.Second, Now: func() time.Time { return now }})
	out := map[string]check.Row{}
	for _, r := range check.Run(t.Context(), s.Checks(), nil) {
		out[r.ID] = r
	}
	return out
}

func TestTrustAllGood(t *testing.T) {
	rows := runTrust(t, trustSQL(der(t, miFQDN, now.AddDate(1, 0, 0))), nil)
	for _, id := range []string{"sql.masterkey", "sql.cert", "sql.micert", "sql.roots"} {
		if r := rows[id]; r.Status != check.Pass {
			t.Errorf("%s: %s %q (%s)", id, r.Status, r.Reason, r.Measured)
		}
	}
	if r := rows["sql.micert"]; !strings.Contains(r.Reason, "give --mi-dsn to compare") {
		t.Errorf("sql.micert without --mi-dsn should say it did not compare: %q", r.Reason)
	}
	if r := rows["sql.cert"]; r.Measured != "MILinkCert, expires 2028-12-03" {
		t.Errorf("sql.cert measured %q", r.Measured)
	}
}

// TestTrustRows: each way the trust setup goes wrong fails (or warns) its
// row, with the fix for the person who applies it.
func TestTrustRows(t *testing.T) {
	mi := der(t, miFQDN, now.AddDate(1, 0, 0))
	setCert := func(name string, col int, v any) func(*fakeSQL) {
		return func(q *fakeSQL) {
			for _, r := range q.tables[qCertificates].Rows {
				if r[0] == name {
					r[col] = v
				}
			}
		}
	}
	tests := []struct {
		name   string
		change func(*fakeSQL)
		id     string
		status check.Status
		reason string
		fix    string
	}{
		{"no master key", func(q *fakeSQL) { q.tables[qTrust].Rows[0][0] = int64(0) }, "sql.masterkey", check.Fail, "no database master key", "CREATE MASTER KEY ENCRYPTION BY PASSWORD"},
		{"endpoint cert expired", setCert("MILinkCert", 3, now.AddDate(0, 0, -1)), "sql.cert", check.Fail, "it expired on 2026-12-02", "az sql mi partner-cert create"},
		{"endpoint cert expiring", setCert("MILinkCert", 3, now.AddDate(0, 0, 12)), "sql.cert", check.Warn, "expires in 12 days", "ALTER ENDPOINT"},
		{"backslash in name", setCert("MILinkCert", 0, `SQLPROD01\INST1_cert`), "sql.cert", check.Fail, "contains a backslash", "CREATE CERTIFICATE"},
		{"no private key", setCert("MILinkCert", 5, "NO_PRIVATE_KEY"), "sql.cert", check.Fail, "no private key", ""},
		{"endpoint without certificate", setCert("MILinkCert", 6, int64(0)), "sql.cert", check.Fail, "does not authenticate with a certificate", "AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE"},
		{"MI cert under another name", setCert(miFQDN, 0, "contoso-instance"), "sql.micert", check.Fail, "contoso-instance may be the MI's", "CREATE CERTIFICATE [" + miFQDN + "] FROM BINARY"},
		{"MI cert expired", setCert(miFQDN, 3, now.AddDate(0, -1, 0)), "sql.micert", check.Fail, "expired", "sp_get_endpoint_certificate"},
		{"no add_issuer", func(q *fakeSQL) { q.tables[qTrust].Rows[0][1] = int64(0) }, "sql.roots", check.Fail, "no sp_certificate_add_issuer", "sql.version"},
		{"one root missing", func(q *fakeSQL) {
			setCert("DigiCertPKI", 1, "something else")(q)
			setCert("DigiCertPKI", 0, "Other")(q)
		}, "sql.roots", check.Fail, "DigiCert Global Root G2", "EXEC sp_certificate_add_issuer @id, N'*.database.windows.net';"},
		{"roots under other names", func(q *fakeSQL) { setCert("DigiCertPKI", 0, "DigiCert G2")(q); setCert("MicrosoftPKI", 0, "MSRoot")(q) }, "sql.roots", check.Pass, "two root authorities are in master", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := trustSQL(mi)
			tt.change(q)
			r := runTrust(t, q, nil)[tt.id]
			if r.Status != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("%s: %s %q, want %s %q", tt.id, r.Status, r.Reason, tt.status, tt.reason)
			}
			if tt.fix != "" && (r.Fix == nil || !strings.Contains(fmt.Sprint(r.Fix.Steps), tt.fix)) {
				t.Errorf("fix %+v lacks %q", r.Fix, tt.fix)
			}
			if r.Status == check.Fail && (r.Fix == nil || r.Fix.For == "") {
				t.Errorf("a failure without a fix: %+v", r)
			}
		})
	}
	q := trustSQL(mi)
	q.errs = map[string]error{qCertificates: errors.New("mssql: VIEW DEFINITION permission denied")}
	for _, id := range []string{"sql.masterkey", "sql.cert", "sql.micert", "sql.roots"} {
		if r := runTrust(t, q, nil)[id]; r.Status != check.Fail || !strings.Contains(r.Reason, "permission denied") || r.Fix == nil {
			t.Errorf("%s on a query error: %+v", id, r)
		}
	}
}

func TestChecksum(t *testing.T) {
	q := goodSQL()
	q.tables[qDatabases] = Table{Columns: append(databaseColumns, "has_backup_checksums"), Rows: [][]any{
		{"Sales", "FULL", "ONLINE", now, "FULL", true},
		{"Orders", "FULL", "ONLINE", now, "FULL", false},
		{"Staging", "SIMPLE", "ONLINE", nil, nil, nil},
	}}
	rows := runChecks(t, q, "Sales", "Orders", "Staging")
	for id, want := range map[string]check.Status{"db.checksum:Sales": check.Pass, "db.checksum:Orders": check.Warn, "db.checksum:Staging": check.Skip} {
		if r := rows[id]; r.Status != want {
			t.Errorf("%s: %s %q, want %s", id, r.Status, r.Reason, want)
		}
	}
	if r := rows["db.checksum:Orders"]; r.Fix == nil || !strings.Contains(fmt.Sprint(r.Fix.Steps), "WITH CHECKSUM") || r.Required {
		t.Errorf("db.checksum:Orders: %+v", r)
	}
}
