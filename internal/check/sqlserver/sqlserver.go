// Package sqlserver is the SQL Server readiness part of `linkmesh check`: the
// rows that log in to SQL Server (--sql-dsn) and read whether it can take part
// in an MI link — its build, Always On, the trace flags the link benefits from,
// its database mirroring endpoint, and the recovery model and backups of the
// databases to replicate.
//
// The checks read SQL Server through Querier, so their judgement is tested over
// result sets shaped exactly like SQL Server's (testdata in sqlserver_test.go);
// DB is the Querier over a real connection (github.com/microsoft/go-mssqldb).
package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// Querier is the SQL Server connection the readiness checks read through.
type Querier interface {
	// Ping logs in (if not yet) and reports why it could not.
	Ping(ctx context.Context) error
	// Query runs query with args (@p1, @p2, …) and returns its first result set.
	Query(ctx context.Context, query string, args ...any) (Table, error)
}

// Table is one result set: column names and rows of values as the driver
// returns them (string, int64, bool, time.Time, []byte, nil for NULL).
type Table struct {
	Columns []string
	Rows    [][]any
}

// Get returns the value of column col (case-insensitive) in row i, nil when
// there is no such column.
func (t Table) Get(i int, col string) any {
	for j, c := range t.Columns {
		if strings.EqualFold(c, col) && j < len(t.Rows[i]) {
			return t.Rows[i][j]
		}
	}
	return nil
}

// DB is a Querier over a real SQL Server connection.
type DB struct {
	db *sql.DB
}

// ErrDSN marks a connection string that cannot be parsed: a usage error, not a
// failed row. The caller names the flag it came from.
var ErrDSN = errors.New("bad connection string")

// Open prepares a connection to the SQL Server dsn names, in any form
// go-mssqldb reads ("sqlserver://user:pass@host:1433?database=master",
// "server=host;user id=…;password=…", "odbc:server=…"); it does not connect yet.
// A malformed dsn is an error wrapping ErrDSN, which never repeats the password.
func Open(dsn string) (*DB, error) {
	// go-mssqldb reads any text without "=" as an empty key and connects to
	// localhost: catch that typo here.
	t := strings.TrimSpace(dsn)
	switch {
	case t == "":
		return nil, fmt.Errorf("%w: empty", ErrDSN)
	case strings.Contains(t, "://") && !strings.HasPrefix(strings.ToLower(t), "sqlserver://"):
		return nil, fmt.Errorf("%w: a URL connection string starts with sqlserver://", ErrDSN)
	case !strings.Contains(t, "://") && !strings.Contains(t, "="):
		return nil, fmt.Errorf("%w: write sqlserver://host?database=master or server=host;user id=…;password=…", ErrDSN)
	}
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, err)
	}
	if cfg.Host == "" {
		return nil, fmt.Errorf("%w: no server in the connection string", ErrDSN)
	}
	c, err := mssql.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	return &DB{db: db}, nil
}

// Ping logs in and reports why it could not.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("log in to SQL Server: %w", err)
	}
	return nil
}

// Query runs query and reads all rows of its first result set.
func (d *DB) Query(ctx context.Context, query string, args ...any) (Table, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Table{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Table{}, err
	}
	t := Table{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return Table{}, err
		}
		t.Rows = append(t.Rows, vals)
	}
	return t, rows.Err()
}

// Close closes the connection pool.
func (d *DB) Close() error { return d.db.Close() }

// asInt reads an integer-like value (any int type, bool, a numeric string).
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case int:
		return int64(x), true
	case uint8:
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case []byte:
		n, err := strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// asBool reads a bit value (go-mssqldb gives bool; NULL is false).
func asBool(v any) bool {
	n, ok := asInt(v)
	return ok && n == 1
}

// asString reads a text value; NULL is "".
func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// asTime reads a datetime value; NULL gives the zero time.
func asTime(v any) time.Time {
	t, _ := v.(time.Time)
	return t
}

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
