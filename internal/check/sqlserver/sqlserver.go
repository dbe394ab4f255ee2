// Package sqlserver is the SQL Server and MI readiness part of `linkmesh
// check`: the rows that log in to SQL Server (--sql-dsn) and read whether it
// can take part in an MI link — its build, Always On, the trace flags the link
// benefits from, its database mirroring endpoint, the certificates each side
// must trust, and the recovery model and backups of the databases to
// replicate — and the rows that log in to the MI (--mi-dsn): its current node
// and HADR port, its trust, and the Agent job test from inside its subnet.
//
// The checks read through mssql.Querier, so their judgement is tested over
// result sets shaped exactly like SQL Server's (sqlserver_test.go and
// neighbours).
package sqlserver

import (
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/internal/mssql"
)

// Querier, Table and DB are mssql's.
type (
	Querier = mssql.Querier
	Table   = mssql.Table
	DB      = mssql.DB
)

// ErrDSN marks a connection string that cannot be parsed (mssql.ErrDSN).
var ErrDSN = mssql.ErrDSN

// Open prepares a connection (mssql.Open).
func Open(dsn string) (*DB, error) { return mssql.Open(dsn) }

func asInt(v any) (int64, bool) { return mssql.AsInt(v) }
func asBool(v any) bool         { return mssql.AsBool(v) }
func asString(v any) string     { return mssql.AsString(v) }
func asTime(v any) time.Time    { return mssql.AsTime(v) }

// quoteName quotes an identifier for T-SQL as QUOTENAME does: [name], with ]
// doubled.
func quoteName(s string) string {
	return "[" + strings.ReplaceAll(s, "]", "]]") + "]"
}

// oneLine shortens a driver error for a report cell: the first line, at most
// 300 characters.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
