package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// fakeSQL answers the readiness queries with result sets shaped like SQL
// Server's: the same column names, and the Go types go-mssqldb returns for them
// (nvarchar → string, int and smallint → int64, bit → bool, datetime →
// time.Time, NULL → nil).
type fakeSQL struct {
	pingErr error
	tables  map[string]Table // by the first words of the query
	errs    map[string]error
}

func (f *fakeSQL) Ping(context.Context) error { return f.pingErr }

func (f *fakeSQL) Query(_ context.Context, query string, args ...any) (Table, error) {
	for prefix, err := range f.errs {
		if strings.HasPrefix(query, prefix) {
			return Table{}, err
		}
	}
	for prefix, t := range f.tables {
		if strings.HasPrefix(query, prefix) {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("fakeSQL: no result set for %q", query)
}

// Query prefixes the fake keys on.
const (
	qServer    = "SELECT\n  CAST(SERVERPROPERTY"
	qFlags     = "DBCC TRACESTATUS"
	qEndpoint  = "SELECT e.name"
	qDatabases = "SELECT d.name"
)

var serverColumns = []string{"ProductVersion", "ProductLevel", "ProductUpdateLevel", "Edition", "ServerName", "IsHadrEnabled", "LoginName", "IsSysadmin"}

// serverRow is SERVERPROPERTY's answer; update is nil on an RTM build without
// a cumulative update, as SQL Server returns NULL there.
func serverRow(version, level string, update any, hadr int64) Table {
	return Table{Columns: serverColumns, Rows: [][]any{{version, level, update, "Enterprise Edition: Core-based Licensing (64-bit)", `SQLPROD01\INST1`, hadr, `CONTOSO\dba`, int64(1)}}}
}

var traceColumns = []string{"TraceFlag", "Status", "Global", "Session"}

var endpointColumns = []string{"name", "state_desc", "role_desc", "connection_auth_desc", "is_encryption_enabled", "encryption_algorithm_desc", "port"}

var databaseColumns = []string{"name", "recovery_model_desc", "state_desc", "backup_finish_date", "backup_recovery_model"}

func goodSQL() *fakeSQL {
	lastNight := time.Date(2026, 5, 3, 22, 14, 0, 0, time.UTC)
	return &fakeSQL{tables: map[string]Table{
		qServer: serverRow("16.0.4165.4", "RTM", "CU16", 1),
		qFlags:  {Columns: traceColumns, Rows: [][]any{{int64(1800), int64(1), int64(1), int64(0)}, {int64(9567), int64(1), int64(1), int64(0)}}},
		qEndpoint: {Columns: endpointColumns, Rows: [][]any{
			{"Hadr_endpoint", "STARTED", "ALL", "NEGOTIATE, CERTIFICATE", true, "AES", int64(5022)}}},
		qDatabases: {Columns: databaseColumns, Rows: [][]any{
			{"Sales", "FULL", "ONLINE", lastNight, "FULL"},
			{"Staging", "SIMPLE", "ONLINE", nil, nil},
			{"Orders", "FULL", "ONLINE", lastNight.Add(-30 * 24 * time.Hour), "SIMPLE"},
			{"Archive", "BULK_LOGGED", "ONLINE", lastNight, "BULK-LOGGED"},
		}},
	}}
}

func runChecks(t *testing.T, q Querier, dbs ...string) map[string]check.Row {
	t.Helper()
	rows := check.Run(t.Context(), Checks(q, Options{EndpointPort: 5022, Databases: dbs, Timeout: time.Second}), nil)
	out := map[string]check.Row{}
	for _, r := range rows {
		out[r.ID] = r
	}
	return out
}

func TestChecksAllGood(t *testing.T) {
	rows := runChecks(t, goodSQL(), "Sales")
	for _, id := range []string{"sql.login", "sql.version", "sql.hadr", "sql.tf1800", "sql.tf9567", "sql.endpoint", "db.recovery:Sales", "db.backup:Sales"} {
		if r, ok := rows[id]; !ok || r.Status != check.Pass {
			t.Errorf("%s: %+v, want pass", id, r)
		}
	}
	if got := rows["sql.login"].Measured; got != `SQLPROD01\INST1 as CONTOSO\dba (sysadmin)` {
		t.Errorf("login measured %q", got)
	}
	if got := rows["sql.version"].Measured; got != "16.0.4165.4 RTM CU16, Enterprise Edition: Core-based Licensing (64-bit)" {
		t.Errorf("version measured %q", got)
	}
}

// TestLoginFails: a DSN that fails to log in fails sql.login with the reason
// and skips the rest; it is not a usage error.
func TestLoginFails(t *testing.T) {
	q := goodSQL()
	q.pingErr = errors.New("log in to SQL Server: mssql: login error: Login failed for user 'linkmesh'.")
	rows := runChecks(t, q, "Sales")
	login := rows["sql.login"]
	if login.Status != check.Fail || !strings.Contains(login.Reason, "Login failed for user 'linkmesh'") || login.Fix == nil {
		t.Fatalf("sql.login %+v, want a failure with the reason and a fix", login)
	}
	for id, r := range rows {
		if id != "sql.login" && (r.Status != check.Skip || !strings.Contains(r.Reason, "see sql.login")) {
			t.Errorf("%s: %+v, want skipped pointing at sql.login", id, r)
		}
	}
}

func TestVersion(t *testing.T) {
	tests := []struct {
		version, level string
		update         any
		status         check.Status
		reason         string
	}{
		{"12.0.6024.0", "SP3", nil, check.Fail, "older than SQL Server 2016"},
		{"13.0.5888.11", "SP2", "CU17", check.Fail, "below the MI link's minimum for SQL Server 2016, 13.0.7000.253"},
		{"13.0.6300.2", "SP3", nil, check.Fail, "below the MI link's minimum for SQL Server 2016"},
		{"13.0.7000.253", "SP3", nil, check.Pass, "SQL Server 2016 at or above"},
		{"13.0.7029.3", "SP3", nil, check.Pass, "at or above"},
		{"14.0.3451.2", "RTM", "CU30", check.Fail, "below the MI link's minimum for SQL Server 2017, 14.0.3490.10"},
		{"14.0.3456.2", "RTM", "CU31", check.Fail, "14.0.3490.10"},
		{"14.0.3490.10", "RTM", "CU31", check.Pass, "SQL Server 2017 at or above"},
		{"15.0.4298.1", "RTM", "CU19", check.Fail, "below the MI link's minimum for SQL Server 2019, 15.0.4312.2"},
		{"15.0.4312.2", "RTM", "CU20", check.Pass, "SQL Server 2019 at or above"},
		{"15.0.4385.2", "RTM", "CU29", check.Pass, "at or above"},
		{"16.0.1000.6", "RTM", nil, check.Warn, "MI → SQL Server (failing back, or the MI as primary) needs 16.0.4095.4"},
		{"16.0.4085.2", "RTM", "CU9", check.Warn, "needs 16.0.4095.4"},
		{"16.0.4095.4", "RTM", "CU10", check.Pass, "SQL Server 2022 at or above"},
		{"16.0.4165.4", "RTM", "CU16", check.Pass, "at or above"},
		{"17.0.700.9", "CTP2.0", nil, check.Fail, "below the MI link's minimum for SQL Server 2025, 17.0.1000.7"},
		{"17.0.1000.7", "RTM", nil, check.Pass, "SQL Server 2025 at or above"},
		{"18.0.100.1", "CTP1.0", nil, check.Pass, "newer than SQL Server 2025"},
		{"", "", nil, check.Fail, "cannot read the build"},
		{"sixteen", "", nil, check.Fail, "cannot read the build"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			q := goodSQL()
			q.tables[qServer] = serverRow(tt.version, tt.level, tt.update, 1)
			r := runChecks(t, q)["sql.version"]
			if r.Status != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("%s: %s %q, want %s %q", tt.version, r.Status, r.Reason, tt.status, tt.reason)
			}
			if (r.Status == check.Fail || r.Status == check.Warn) && (r.Fix == nil || r.Fix.For != check.ForDBA) {
				t.Errorf("fix %+v, want one for the DBA", r.Fix)
			}
		})
	}
}

func TestParseBuild(t *testing.T) {
	b, err := ParseBuild("16.0.4095.4")
	if err != nil || b != (Build{16, 0, 4095, 4}) || b.String() != "16.0.4095.4" {
		t.Fatalf("ParseBuild = %v, %v", b, err)
	}
	if !(Build{15, 0, 4312, 2}).Less(Build{15, 0, 4312, 3}) || (Build{16, 0, 0, 0}).Less(Build{15, 9, 9999, 9}) {
		t.Error("Less compares part by part")
	}
	for _, bad := range []string{"", "16", "16.0.x.1", "1.2.3.4.5", "-1.0"} {
		if _, err := ParseBuild(bad); err == nil {
			t.Errorf("ParseBuild(%q) accepted", bad)
		}
	}
}

func TestHADR(t *testing.T) {
	for _, tt := range []struct {
		hadr   any
		status check.Status
	}{{int64(1), check.Pass}, {int64(0), check.Fail}, {nil, check.Fail}} {
		q := goodSQL()
		q.tables[qServer].Rows[0][5] = tt.hadr
		r := runChecks(t, q)["sql.hadr"]
		if r.Status != tt.status {
			t.Errorf("IsHadrEnabled %v: %s, want %s", tt.hadr, r.Status, tt.status)
		}
		if tt.status == check.Fail && !strings.Contains(r.Fix.Steps[0].Command, `Enable-SqlAlwaysOn -ServerInstance "SQLPROD01\INST1" -Force`) {
			t.Errorf("fix %+v, want Enable-SqlAlwaysOn for the instance", r.Fix)
		}
	}
}

// TestTraceFlags reads DBCC TRACESTATUS as SQL Server returns it: a row per
// flag asked for, on or off; a flag on for a session only does not count.
func TestTraceFlags(t *testing.T) {
	row := func(flag, status, global, session int64) []any { return []any{flag, status, global, session} }
	tests := []struct {
		name       string
		rows       [][]any
		err        error
		tf1800     check.Status
		tf9567     check.Status
		measured18 string
	}{
		{"both global", [][]any{row(1800, 1, 1, 0), row(9567, 1, 1, 0)}, nil, check.Pass, check.Pass, "on (global)"},
		{"both off", [][]any{row(1800, 0, 0, 0), row(9567, 0, 0, 0)}, nil, check.Warn, check.Warn, "off"},
		{"session only", [][]any{row(1800, 1, 0, 1), row(9567, 1, 1, 0)}, nil, check.Warn, check.Pass, "on for one session only"},
		{"no rows", nil, nil, check.Warn, check.Warn, "off"},
		{"no permission", nil, errors.New("mssql: User 'x' does not have permission to run DBCC TRACESTATUS."), check.Warn, check.Warn, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := goodSQL()
			q.tables[qFlags] = Table{Columns: traceColumns, Rows: tt.rows}
			if tt.err != nil {
				q.errs = map[string]error{qFlags: tt.err}
			}
			rows := runChecks(t, q)
			if rows["sql.tf1800"].Status != tt.tf1800 || rows["sql.tf9567"].Status != tt.tf9567 || rows["sql.tf1800"].Measured != tt.measured18 {
				t.Fatalf("tf1800 %+v, tf9567 %+v; want %s (%q), %s", rows["sql.tf1800"], rows["sql.tf9567"], tt.tf1800, tt.measured18, tt.tf9567)
			}
			if r := rows["sql.tf1800"]; r.Required || tt.err == nil && r.Status == check.Warn && (r.Fix == nil || !strings.Contains(r.Fix.Steps[len(r.Fix.Steps)-1].Command, "DBCC TRACEON (1800, -1)")) {
				t.Errorf("tf1800 row %+v: advice, not required, with the DBCC TRACEON line", r)
			}
		})
	}
}

func TestEndpoint(t *testing.T) {
	ep := func(state, auth string, enc bool, alg string, port int64) [][]any {
		return [][]any{{"Hadr_endpoint", state, "ALL", auth, enc, alg, port}}
	}
	tests := []struct {
		name     string
		rows     [][]any
		status   check.Status
		reason   string
		commands []string
	}{
		{"good", ep("STARTED", "NEGOTIATE, CERTIFICATE", true, "AES", 5022), check.Pass, "started", nil},
		{"certificate only", ep("STARTED", "CERTIFICATE", true, "AES", 5022), check.Pass, "started", nil},
		{"none", nil, check.Fail, "no DATABASE_MIRRORING endpoint", []string{"CREATE ENDPOINT database_mirroring_endpoint STATE = STARTED AS TCP (LISTENER_PORT = 5022"}},
		{"stopped", ep("STOPPED", "NEGOTIATE, CERTIFICATE", true, "AES", 5022), check.Fail, "it is STOPPED", []string{"ALTER ENDPOINT [Hadr_endpoint] STATE = STARTED;"}},
		{"windows auth only", ep("STARTED", "NEGOTIATE", true, "AES", 5022), check.Fail, "does not authenticate with a certificate", []string{"AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <certificate-name>"}},
		{"rc4", ep("STARTED", "CERTIFICATE", true, "RC4", 5022), check.Fail, "does not encrypt with AES", []string{"ENCRYPTION = REQUIRED ALGORITHM AES"}},
		{"no encryption", ep("STARTED", "CERTIFICATE", false, "NONE", 5022), check.Fail, "does not encrypt with AES", nil},
		{"other port", ep("STARTED", "CERTIFICATE", true, "AES", 5023), check.Fail, "listens on 5023, not 5022", []string{"ALTER ENDPOINT [Hadr_endpoint] AS TCP (LISTENER_PORT = 5022);"}},
		{"all wrong", ep("DISABLED", "KERBEROS", false, "NONE", 7022), check.Fail, "it is DISABLED; it does not authenticate with a certificate; it does not encrypt with AES; it listens on 7022", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := judgeEndpoint(Table{Columns: endpointColumns, Rows: tt.rows}, 5022)
			if r.Status != tt.status || !strings.Contains(r.Reason, tt.reason) {
				t.Fatalf("%s %q, want %s %q", r.Status, r.Reason, tt.status, tt.reason)
			}
			var cmds string
			if r.Fix != nil {
				for _, s := range r.Fix.Steps {
					cmds += s.Command + "\n"
				}
			}
			for _, c := range tt.commands {
				if !strings.Contains(cmds, c) {
					t.Errorf("fix commands\n%s lack %q", cmds, c)
				}
			}
		})
	}
	q := goodSQL()
	q.errs = map[string]error{qEndpoint: errors.New("mssql: The SELECT permission was denied")}
	if r := runChecks(t, q)["sql.endpoint"]; r.Status != check.Fail || !strings.Contains(r.Reason, "permission was denied") {
		t.Errorf("query error: %+v", r)
	}
}

func TestDatabases(t *testing.T) {
	rows := runChecks(t, goodSQL(), "Sales", "staging", "Orders", "Archive", "Missing")
	tests := []struct {
		id     string
		status check.Status
		reason string
		cmd    string
	}{
		{"db.recovery:Sales", check.Pass, "FULL recovery", ""},
		{"db.backup:Sales", check.Pass, "full backup that is not copy-only exists", ""},
		{"db.recovery:staging", check.Fail, "in SIMPLE recovery", "ALTER DATABASE [staging] SET RECOVERY FULL;"},
		{"db.backup:staging", check.Fail, "no full backup", "BACKUP DATABASE [staging] TO DISK"},
		{"db.recovery:Orders", check.Pass, "FULL recovery", ""},
		{"db.backup:Orders", check.Fail, "taken in SIMPLE recovery", "BACKUP DATABASE [Orders]"},
		{"db.recovery:Archive", check.Fail, "BULK_LOGGED", "SET RECOVERY FULL"},
		{"db.backup:Archive", check.Pass, "exists", ""},
		{"db.recovery:Missing", check.Fail, "no database named Missing", ""},
		{"db.backup:Missing", check.Fail, "no database named Missing", ""},
	}
	for _, tt := range tests {
		r := rows[tt.id]
		if r.Status != tt.status || !strings.Contains(r.Reason, tt.reason) {
			t.Errorf("%s: %s %q, want %s %q", tt.id, r.Status, r.Reason, tt.status, tt.reason)
			continue
		}
		if tt.cmd != "" && (r.Fix == nil || !strings.Contains(fmt.Sprint(r.Fix.Steps), tt.cmd)) {
			t.Errorf("%s: fix %+v lacks %q", tt.id, r.Fix, tt.cmd)
		}
	}
	if got := databaseQuery(3); !strings.Contains(got, "WHERE d.name IN (@p1, @p2, @p3)") {
		t.Errorf("databaseQuery(3):\n%s", got)
	}
	if got := quoteName("we]ird"); got != "[we]]ird]" {
		t.Errorf("quoteName = %q", got)
	}
}

func TestOpen(t *testing.T) {
	for _, good := range []string{"sqlserver://localhost?database=master", "server=SQLPROD01;user id=linkmesh;password=secret", "odbc:server=SQLPROD01;uid=linkmesh;pwd=secret"} {
		db, err := Open(good)
		if err != nil {
			t.Errorf("Open(%q): %v", good, err)
			continue
		}
		db.Close()
	}
	for _, bad := range []string{"", "garbage", "http://SQLPROD01", "server=x;port=abc;password=s3cr3t", "sqlserver://sa:s3cr3t@host:99999"} {
		_, err := Open(bad)
		if !errors.Is(err, ErrDSN) {
			t.Errorf("Open(%q) = %v, want ErrDSN", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Open(%q) error repeats the password: %v", bad, err)
		}
	}
}
