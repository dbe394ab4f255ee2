// Package mssql reads SQL Server and Azure SQL Managed Instance through
// Querier: DB is the Querier over a real connection
// (github.com/microsoft/go-mssqldb), and what reads through it is tested over
// result sets shaped exactly like SQL Server's. `linkmesh check`'s readiness
// rows (internal/check/sqlserver) and the probe's link-health series
// (probe/sqlstate) use it.
package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gomssql "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// Querier is the SQL Server connection readers read through: the check's
// readiness rows, the probe's link-health series.
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
	if err := CheckDSN(dsn); err != nil {
		return nil, err
	}
	c, err := gomssql.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDSN, err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	return &DB{db: db}, nil
}

// CheckDSN reports what is wrong with dsn's form, as Open would, without
// preparing a connection: for validating flags before anything starts.
func CheckDSN(dsn string) error {
	// go-mssqldb reads any text without "=" as an empty key and connects to
	// localhost: catch that typo here.
	t := strings.TrimSpace(dsn)
	switch {
	case t == "":
		return fmt.Errorf("%w: empty", ErrDSN)
	case strings.Contains(t, "://") && !strings.HasPrefix(strings.ToLower(t), "sqlserver://"):
		return fmt.Errorf("%w: a URL connection string starts with sqlserver://", ErrDSN)
	case !strings.Contains(t, "://") && !strings.Contains(t, "="):
		return fmt.Errorf("%w: write sqlserver://host?database=master or server=host;user id=…;password=…", ErrDSN)
	}
	cfg, err := msdsn.Parse(dsn)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDSN, err)
	}
	if cfg.Host == "" {
		return fmt.Errorf("%w: no server in the connection string", ErrDSN)
	}
	return nil
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

// AsInt reads an integer-like value (any int type, bool, a numeric string).
func AsInt(v any) (int64, bool) {
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

// AsBool reads a bit value (go-mssqldb gives bool; NULL is false).
func AsBool(v any) bool {
	n, ok := AsInt(v)
	return ok && n == 1
}

// AsString reads a text value; NULL is "".
func AsString(v any) string {
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

// AsTime reads a datetime value; NULL gives the zero time.
func AsTime(v any) time.Time {
	t, _ := v.(time.Time)
	return t
}
