package sqlserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// Options says what the readiness rows expect.
type Options struct {
	// EndpointPort is the port SQL Server's mirroring endpoint must listen on
	// (the port of --sql-endpoint, usually 5022).
	EndpointPort uint16
	// Databases are the databases to replicate (--databases).
	Databases []string
	// MI is the MI's FQDN (--mi): the name its certificate must have in
	// master, and the name --mi-dsn must reach.
	MI string
	// Timeout bounds the login and each query.
	Timeout time.Duration
	// Now is the clock certificates' expiry is judged by (nil: time.Now).
	Now func() time.Time
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Sources are the servers the rows read: SQL Server (--sql-dsn) and the MI
// (--mi-dsn). Either may be nil; the rows that need it are then left out, or
// say what they could not compare.
type Sources struct {
	SQL, MI Querier
}

// queryServer reads the server's properties and who we are, in one round trip.
const queryServer = `SELECT
  CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS ProductVersion,
  CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS ProductLevel,
  CAST(SERVERPROPERTY('ProductUpdateLevel') AS nvarchar(128)) AS ProductUpdateLevel,
  CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS Edition,
  CAST(SERVERPROPERTY('ServerName') AS nvarchar(256)) AS ServerName,
  CAST(SERVERPROPERTY('IsHadrEnabled') AS int) AS IsHadrEnabled,
  SUSER_SNAME() AS LoginName,
  IS_SRVROLEMEMBER('sysadmin') AS IsSysadmin`

// session is what the rows share: one login and one read of each result set,
// whichever row asks first. Its methods are safe for concurrent use.
type session struct {
	q    Querier
	mi   Querier // nil without --mi-dsn
	opts Options

	loginOnce sync.Once
	loginErr  error
	server    Table

	flagsOnce sync.Once
	flags     Table
	flagsErr  error

	dbOnce sync.Once
	dbs    Table
	dbsErr error

	trustOnce sync.Once
	trust     Table
	certs     []certificate
	trustErr  error

	miSide
}

// Session is the readiness rows' shared state: one login to each server and
// one read of each result set, whichever row asks first.
type Session struct{ s *session }

// New returns the session of the readiness rows over src.
func New(src Sources, opts Options) *Session {
	return &Session{s: &session{q: src.SQL, mi: src.MI, opts: opts}}
}

// Checks returns the rows, in report order: with --sql-dsn sql.login,
// sql.version, sql.hadr, sql.tf1800, sql.tf9567, sql.endpoint, sql.masterkey,
// sql.cert, sql.micert, sql.roots, then db.recovery:<name>, db.backup:<name>
// and db.checksum:<name> for each database; with --mi-dsn mi.login, mi.node
// and mi.trust. When a login fails, its row fails with the reason and the
// rows that need it are skipped.
func (x *Session) Checks() []check.Check {
	s := x.s
	var checks []check.Check
	if s.q != nil {
		checks = s.sqlChecks()
	}
	if s.mi != nil {
		checks = append(checks, s.miChecks()...)
	}
	return checks
}

// Checks returns the SQL Server rows alone (no --mi-dsn): New(Sources{SQL:
// q}, opts).Checks().
func Checks(q Querier, opts Options) []check.Check {
	return New(Sources{SQL: q}, opts).Checks()
}

// sqlChecks are Checks' rows over s.
func (s *session) sqlChecks() []check.Check {
	opts := s.opts
	checks := []check.Check{
		{ID: "sql.login", What: "linkmesh logs in to SQL Server (--sql-dsn)", Required: true, Run: s.login},
		{ID: "sql.version", What: "SQL Server build supports the MI link", Required: true, Run: s.needsLogin(s.version)},
		{ID: "sql.hadr", What: "Always On availability groups enabled", Required: true, Run: s.needsLogin(s.hadr)},
		{ID: "sql.tf1800", What: "trace flag 1800 (512-byte-sector log disks)", Run: s.needsLogin(s.traceFlag(1800))},
		{ID: "sql.tf9567", What: "trace flag 9567 (seeding compression)", Run: s.needsLogin(s.traceFlag(9567))},
		{ID: "sql.endpoint", What: fmt.Sprintf("mirroring endpoint: started, certificate, AES, port %d", opts.EndpointPort), Required: true, Run: s.needsLogin(s.endpoint)},
		{ID: "sql.masterkey", What: "database master key in master", Required: true, Run: s.needsLogin(s.trustRow(s.masterKey))},
		{ID: "sql.cert", What: "the endpoint's certificate: private key, valid over 30 days, no \\ in its name", Required: true, Run: s.needsLogin(s.trustRow(s.endpointCert))},
		{ID: "sql.micert", What: fmt.Sprintf("the MI's certificate in master, named %s", opts.MI), Required: true, Run: s.needsLogin(s.trustRow(s.miCert))},
		{ID: "sql.roots", What: "Azure's root authorities trusted for *.database.windows.net", Required: true, Run: s.needsLogin(s.trustRow(s.roots))},
	}
	for _, db := range opts.Databases {
		checks = append(checks,
			check.Check{ID: "db.recovery:" + db, What: fmt.Sprintf("database %s in FULL recovery", db), Required: true, Run: s.needsLogin(s.recovery(db))},
			check.Check{ID: "db.backup:" + db, What: fmt.Sprintf("database %s has a full backup (not copy-only)", db), Required: true, Run: s.needsLogin(s.backup(db))},
			check.Check{ID: "db.checksum:" + db, What: fmt.Sprintf("database %s's last full backup was taken WITH CHECKSUM", db), Run: s.needsLogin(s.checksum(db))},
		)
	}
	return checks
}

// logIn logs in and reads the server's properties, once.
func (s *session) logIn(ctx context.Context) error {
	s.loginOnce.Do(func() { s.server, s.loginErr = loginAndRead(ctx, s.q, s.opts.Timeout, queryServer, "server") })
	return s.loginErr
}

// loginAndRead logs in to q and reads its one row of properties (what
// names them in an error), within timeout.
func loginAndRead(ctx context.Context, q Querier, timeout time.Duration, query, what string) (Table, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := q.Ping(ctx); err != nil {
		return Table{}, err
	}
	t, err := q.Query(ctx, query)
	if err == nil && len(t.Rows) != 1 {
		err = fmt.Errorf("%s properties: %d rows, want 1", what, len(t.Rows))
	}
	return t, err
}

// needsLogin runs f once the login worked, and skips the row when it did not.
func (s *session) needsLogin(f func(context.Context) check.Outcome) func(context.Context) check.Outcome {
	return func(ctx context.Context) check.Outcome {
		if err := s.logIn(ctx); err != nil {
			return check.Outcome{Status: check.Skip, Reason: "not checked: linkmesh could not log in to SQL Server (see sql.login)"}
		}
		return f(ctx)
	}
}

// query runs one query with the timeout.
func (s *session) query(ctx context.Context, query string, args ...any) (Table, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.q.Query(ctx, query, args...)
}

func (s *session) login(ctx context.Context) check.Outcome {
	if err := s.logIn(ctx); err != nil {
		return check.Outcome{Status: check.Fail, Measured: "no login", Reason: oneLine(err),
			Fix: &check.Fix{For: check.ForDBA, Summary: "linkmesh could not log in to SQL Server with --sql-dsn, so it could not check SQL Server's readiness.",
				Steps: []check.Step{
					{Text: "Check the server, port and instance in the connection string, and that SQL Server accepts TCP connections (SQL Server Configuration Manager → Protocols → TCP/IP)."},
					{Text: "On Windows, leave out user id and password to log in as the current Windows user; otherwise give a SQL login. For a server with a self-signed certificate, add TrustServerCertificate=true."},
					{Text: "The login needs VIEW SERVER STATE and read access to msdb (or sysadmin):",
						Command: "GRANT VIEW SERVER STATE TO [<login>];", Shell: check.ShellTSQL},
				}}}
	}
	measured := fmt.Sprintf("%s as %s", asString(s.server.Get(0, "ServerName")), asString(s.server.Get(0, "LoginName")))
	if n, _ := asInt(s.server.Get(0, "IsSysadmin")); n == 1 {
		return check.Outcome{Status: check.Pass, Measured: measured + " (sysadmin)", Reason: "logged in"}
	}
	return check.Outcome{Status: check.Pass, Measured: measured,
		Reason: "logged in, not as sysadmin: a row the login may not read says so"}
}

func (s *session) version(context.Context) check.Outcome {
	return judgeVersion(serverVersion{
		version: asString(s.server.Get(0, "ProductVersion")),
		level:   asString(s.server.Get(0, "ProductLevel")),
		update:  asString(s.server.Get(0, "ProductUpdateLevel")),
		edition: asString(s.server.Get(0, "Edition")),
	})
}

func (s *session) hadr(context.Context) check.Outcome {
	v := s.server.Get(0, "IsHadrEnabled")
	if n, ok := asInt(v); ok && n == 1 {
		return check.Outcome{Status: check.Pass, Measured: "IsHadrEnabled = 1", Reason: "Always On availability groups are enabled"}
	}
	measured := "IsHadrEnabled = 0"
	if v == nil {
		measured = "IsHadrEnabled = NULL"
	}
	server := asString(s.server.Get(0, "ServerName"))
	if server == "" {
		server = "<server\\instance>"
	}
	return check.Outcome{Status: check.Fail, Measured: measured,
		Reason: "Always On availability groups are not enabled: the MI link is a distributed availability group and needs them",
		Fix: &check.Fix{For: check.ForDBA, Summary: "Enable Always On availability groups on this SQL Server instance; it takes a restart of the SQL Server service.",
			Steps: []check.Step{
				{Text: "On Windows, in PowerShell with the SqlServer module, as administrator (restarts the service), or in SQL Server Configuration Manager → the SQL Server service → Properties → Always On Availability Groups:",
					Command: fmt.Sprintf(`Enable-SqlAlwaysOn -ServerInstance "%s" -Force`, server), Shell: check.ShellPowerShell},
				{Text: "On Linux:", Command: "sudo /opt/mssql/bin/mssql-conf set hadr.hadrenabled 1 && sudo systemctl restart mssql-server", Shell: check.ShellSh},
			}}}
}
