package sqlserver

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/check"
)

// queryDatabases reads, for the named databases, the recovery model and the
// latest full backup that is not copy-only (the recovery model it was taken
// in: one taken in SIMPLE, before the switch to FULL, does not start the log
// chain; and whether it carries checksums).
const queryDatabases = `SELECT d.name, d.recovery_model_desc, d.state_desc,
  b.backup_finish_date, b.recovery_model AS backup_recovery_model, b.has_backup_checksums
FROM sys.databases AS d
OUTER APPLY (
  SELECT TOP (1) bs.backup_finish_date, bs.recovery_model, bs.has_backup_checksums
  FROM msdb.dbo.backupset AS bs
  WHERE bs.database_name = d.name AND bs.type = 'D' AND bs.is_copy_only = 0
  ORDER BY bs.backup_finish_date DESC
) AS b
WHERE d.name IN (%s)`

// databaseQuery builds queryDatabases for n names (@p1 … @pn).
func databaseQuery(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("@p%d", i+1)
	}
	return fmt.Sprintf(queryDatabases, strings.Join(ps, ", "))
}

// database is one row of queryDatabases.
type database struct {
	found                 bool
	recovery, state       string
	lastFull              time.Time
	lastFullRecoveryModel string
	lastFullChecksums     bool
}

// readDatabases runs queryDatabases once for all databases.
func (s *session) readDatabases(ctx context.Context) (Table, error) {
	s.dbOnce.Do(func() {
		args := make([]any, len(s.opts.Databases))
		for i, d := range s.opts.Databases {
			args[i] = d
		}
		s.dbs, s.dbsErr = s.query(ctx, databaseQuery(len(args)), args...)
	})
	return s.dbs, s.dbsErr
}

// findDatabase picks name's row (names compare case-insensitively, as SQL
// Server's default collations do).
func findDatabase(t Table, name string) database {
	for i := range t.Rows {
		if strings.EqualFold(asString(t.Get(i, "name")), name) {
			return database{found: true,
				recovery: asString(t.Get(i, "recovery_model_desc")), state: asString(t.Get(i, "state_desc")),
				lastFull: asTime(t.Get(i, "backup_finish_date")), lastFullRecoveryModel: asString(t.Get(i, "backup_recovery_model")),
				lastFullChecksums: asBool(t.Get(i, "has_backup_checksums"))}
		}
	}
	return database{}
}

// dbRow reads db's row and runs judge on it; a query error or a missing
// database fails the row.
func (s *session) dbRow(name string, judge func(name string, d database) check.Outcome) func(context.Context) check.Outcome {
	return func(ctx context.Context) check.Outcome {
		t, err := s.readDatabases(ctx)
		if err != nil {
			return check.Outcome{Status: check.Fail, Measured: "unknown", Reason: "cannot read sys.databases and msdb.dbo.backupset: " + oneLine(err),
				Fix: &check.Fix{For: check.ForDBA, Summary: "The login cannot read the databases' recovery models or backup history.",
					Steps: []check.Step{{Text: "Run the check with a login that can read msdb (e.g. a member of db_datareader in msdb, or sysadmin)."}}}}
		}
		d := findDatabase(t, name)
		if !d.found {
			return check.Outcome{Status: check.Fail, Measured: "no such database",
				Reason: fmt.Sprintf("there is no database named %s on this instance", name),
				Fix:    &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("--databases names %s, which this instance does not have.", name), Steps: []check.Step{{Text: "Check the name (SELECT name FROM sys.databases) and run linkmesh check again."}}}}
		}
		return judge(name, d)
	}
}

func (s *session) recovery(name string) func(context.Context) check.Outcome {
	return s.dbRow(name, judgeRecovery)
}

func (s *session) backup(name string) func(context.Context) check.Outcome {
	return s.dbRow(name, judgeBackup)
}

func (s *session) checksum(name string) func(context.Context) check.Outcome {
	return s.dbRow(name, judgeChecksum)
}

// judgeChecksum is the db.checksum row: advice, never a failure. A backup
// WITH CHECKSUM verified every page it read, so the database the link seeds
// from is known not to carry a torn page to the MI.
func judgeChecksum(name string, d database) check.Outcome {
	if d.lastFull.IsZero() {
		return check.Outcome{Status: check.Skip, Reason: "not checked: no full backup (see db.backup)"}
	}
	o := check.Outcome{Measured: "last full backup " + d.lastFull.Format("2006-01-02 15:04")}
	if d.lastFullChecksums {
		o.Status, o.Reason = check.Pass, "the last full backup was taken WITH CHECKSUM: every page it read was verified"
		return o
	}
	o.Status = check.Warn
	o.Reason = "the last full backup was taken without CHECKSUM: a damaged page would have gone unnoticed, and seeding copies it to the MI"
	o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Take the next full backup of %s WITH CHECKSUM (and make it the default for this server's backups).", name),
		Steps: []check.Step{backupStep(name),
			{Text: "Make CHECKSUM every backup's default:", Command: "EXEC sp_configure 'backup checksum default', 1;\nRECONFIGURE;", Shell: check.ShellTSQL}}}
	return o
}

// judgeRecovery is the db.recovery row.
func judgeRecovery(name string, d database) check.Outcome {
	o := check.Outcome{Measured: d.recovery}
	if d.state != "" && d.state != "ONLINE" {
		o.Measured += ", " + d.state
	}
	if d.recovery == "FULL" {
		o.Status, o.Reason = check.Pass, "the database is in FULL recovery"
		return o
	}
	o.Status = check.Fail
	o.Reason = fmt.Sprintf("the database is in %s recovery: the link replicates the log, which needs FULL", d.recovery)
	o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Switch %s to FULL recovery, then take a full backup to start the log chain.", name),
		Steps: []check.Step{
			{Text: "Switch the recovery model:", Command: fmt.Sprintf("ALTER DATABASE %s SET RECOVERY FULL;", quoteName(name)), Shell: check.ShellTSQL},
			backupStep(name),
		}}
	return o
}

// judgeBackup is the db.backup row.
func judgeBackup(name string, d database) check.Outcome {
	if d.lastFull.IsZero() {
		return check.Outcome{Status: check.Fail, Measured: "none",
			Reason: "no full backup that is not copy-only: the link needs one to start from",
			Fix:    &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Take a full backup of %s (not COPY_ONLY).", name), Steps: []check.Step{backupStep(name)}}}
	}
	o := check.Outcome{Measured: "last full backup " + d.lastFull.Format("2006-01-02 15:04")}
	if d.lastFullRecoveryModel == "SIMPLE" {
		o.Status = check.Fail
		o.Reason = fmt.Sprintf("the last full backup was taken in %s recovery, so it does not start the log chain the link needs", d.lastFullRecoveryModel)
		o.Fix = &check.Fix{For: check.ForDBA, Summary: fmt.Sprintf("Take a new full backup of %s now that it is in FULL recovery.", name), Steps: []check.Step{backupStep(name)}}
		return o
	}
	o.Status, o.Reason = check.Pass, "a full backup that is not copy-only exists"
	return o
}

func backupStep(name string) check.Step {
	return check.Step{Text: "Take a full backup that is not copy-only (to disk, or TO URL for Azure Blob storage):",
		Command: fmt.Sprintf("BACKUP DATABASE %s TO DISK = N'<backup-folder>\\%s.bak' WITH CHECKSUM;", quoteName(name), strings.ReplaceAll(name, "'", "''")), Shell: check.ShellTSQL}
}
