package sqlstate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linkmesh/linkmesh/internal/mssql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSQL answers the four queries with result sets shaped as go-mssqldb
// returns SQL Server's (nvarchar → string, bigint and int → int64, datetime →
// time.Time, NULL → nil), counting the reads.
type fakeSQL struct {
	mu     sync.Mutex
	tables map[string]mssql.Table
	errs   map[string]error
	reads  int
}

func (f *fakeSQL) Ping(context.Context) error { return nil }

// readCount is how many readings began.
func (f *fakeSQL) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeSQL) Query(_ context.Context, q string, _ ...any) (mssql.Table, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if q == queryReplicas {
		f.reads++
	}
	if err := f.errs[q]; err != nil {
		return mssql.Table{}, err
	}
	t, ok := f.tables[q]
	if !ok {
		return mssql.Table{}, fmt.Errorf("fakeSQL: no table for %.40q", q)
	}
	return t, nil
}

var expiry = time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)

// linkSQL is a SQL Server in the middle of a link: one distributed group
// toward the MI, two databases (one still seeding, with NULL rates), the
// endpoint's certificate.
func linkSQL() *fakeSQL {
	return &fakeSQL{tables: map[string]mssql.Table{
		queryReplicas: {Columns: []string{"ag_name", "replica_server_name", "connected_state_desc", "synchronization_health_desc"},
			Rows: [][]any{{"DAG_Sales", "AG_Sales_MI", "CONNECTED", "HEALTHY"}}},
		queryDatabases: {Columns: []string{"ag_name", "database_name", "synchronization_state_desc", "log_send_queue_size", "log_send_rate", "redo_queue_size", "redo_rate", "secondary_lag_seconds", "last_hardened_age_seconds"},
			Rows: [][]any{
				{"DAG_Sales", "Sales", "SYNCHRONIZING", int64(2048), int64(512), int64(100), int64(300), int64(4), int64(1)},
				{"DAG_Sales", "Orders", "NOT SYNCHRONIZING", nil, nil, nil, nil, nil, nil},
			}},
		querySeeding: {Columns: []string{"local_database_name", "transferred_size_bytes", "database_size_bytes", "transfer_rate_bytes_per_second"},
			Rows: [][]any{{"Orders", int64(5e9), int64(20e9), int64(50e6)}}},
		queryCertificate: {Columns: []string{"name", "expiry_date"}, Rows: [][]any{{"MILinkCert", expiry}}},
	}}
}

func reader(q mssql.Querier) *Reader {
	return New(Config{Querier: q, Probe: "sql1", Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
}

func TestCollect(t *testing.T) {
	r := reader(linkSQL())
	if n := testutil.CollectAndCount(r); n != 0 {
		t.Fatalf("before the first reading: %d series, want none (not zeros)", n)
	}
	r.last = r.read(t.Context())
	want := `
# HELP linkmesh_sql_up 1 if the latest reading of SQL Server's link views succeeded, 0 if a query failed (its series are then absent, not stale).
# TYPE linkmesh_sql_up gauge
linkmesh_sql_up{probe="sql1"} 1
# HELP linkmesh_sql_replica_connected 1 if the link's remote replica (the distributed availability group's other side) is CONNECTED, else 0.
# TYPE linkmesh_sql_replica_connected gauge
linkmesh_sql_replica_connected{ag="DAG_Sales",probe="sql1",replica="AG_Sales_MI"} 1
# HELP linkmesh_sql_database_state 1 for each linked database's current synchronization state on the remote replica (synchronized, synchronizing, not_synchronizing, reverting, initializing).
# TYPE linkmesh_sql_database_state gauge
linkmesh_sql_database_state{ag="DAG_Sales",database="Orders",probe="sql1",state="not_synchronizing"} 1
linkmesh_sql_database_state{ag="DAG_Sales",database="Sales",probe="sql1",state="synchronizing"} 1
# HELP linkmesh_sql_log_send_queue_bytes Log not yet sent to the remote replica.
# TYPE linkmesh_sql_log_send_queue_bytes gauge
linkmesh_sql_log_send_queue_bytes{ag="DAG_Sales",database="Sales",probe="sql1"} 2.097152e+06
# HELP linkmesh_sql_secondary_lag_seconds How far the remote replica is behind (sys.dm_hadr_database_replica_states.secondary_lag_seconds).
# TYPE linkmesh_sql_secondary_lag_seconds gauge
linkmesh_sql_secondary_lag_seconds{ag="DAG_Sales",database="Sales",probe="sql1"} 4
# HELP linkmesh_sql_seeding_transferred_bytes Bytes the running automatic seeding of a database has transferred (present only while it seeds).
# TYPE linkmesh_sql_seeding_transferred_bytes gauge
linkmesh_sql_seeding_transferred_bytes{database="Orders",probe="sql1"} 5e+09
# HELP linkmesh_sql_endpoint_certificate_expiry_timestamp_seconds When the certificate SQL Server's mirroring endpoint authenticates with expires.
# TYPE linkmesh_sql_endpoint_certificate_expiry_timestamp_seconds gauge
linkmesh_sql_endpoint_certificate_expiry_timestamp_seconds{certificate="MILinkCert",probe="sql1"} 1.798848e+09
`
	names := []string{"linkmesh_sql_up", "linkmesh_sql_replica_connected", "linkmesh_sql_database_state", "linkmesh_sql_log_send_queue_bytes",
		"linkmesh_sql_secondary_lag_seconds", "linkmesh_sql_seeding_transferred_bytes", "linkmesh_sql_endpoint_certificate_expiry_timestamp_seconds"}
	if err := testutil.CollectAndCompare(r, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// NULLs make no series: Orders has no queue, rate, lag or hardened age.
	if n := testutil.CollectAndCount(r, "linkmesh_sql_redo_rate_bytes_per_second"); n != 1 {
		t.Errorf("redo rate: %d series, want 1 (Sales only)", n)
	}
	if n := testutil.CollectAndCount(r); n != 17 {
		t.Errorf("%d series, want 17", n)
	}
}

// TestQueryFails: a query that fails makes linkmesh_sql_up 0 and its part
// absent; the other parts are still exported.
func TestQueryFails(t *testing.T) {
	q := linkSQL()
	q.errs = map[string]error{queryDatabases: errors.New("VIEW SERVER STATE permission was denied")}
	r := reader(q)
	r.last = r.read(t.Context())
	if v := testutil.ToFloat64(prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) { collectOnly(r, ch, "linkmesh_sql_up") })); v != 0 {
		t.Errorf("linkmesh_sql_up %v, want 0", v)
	}
	if n := testutil.CollectAndCount(r, "linkmesh_sql_secondary_lag_seconds", "linkmesh_sql_database_state"); n != 0 {
		t.Errorf("%d database series after the query failed, want none", n)
	}
	if n := testutil.CollectAndCount(r, "linkmesh_sql_replica_connected"); n != 1 {
		t.Errorf("replica series %d, want 1", n)
	}
	if !strings.Contains(r.last.err.Error(), "databases: VIEW SERVER STATE") {
		t.Errorf("err %v", r.last.err)
	}
}

// TestTruncated: a view with more rows than a probe keeps exports the first
// 256 and says so.
func TestTruncated(t *testing.T) {
	q := linkSQL()
	big := q.tables[queryDatabases]
	big.Rows = nil
	for i := range 300 {
		big.Rows = append(big.Rows, []any{"DAG", fmt.Sprintf("db%03d", i), "SYNCHRONIZED", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0)})
	}
	q.tables[queryDatabases] = big
	r := reader(q)
	r.last = r.read(t.Context())
	if n := testutil.CollectAndCount(r, "linkmesh_sql_secondary_lag_seconds"); n != maxRows {
		t.Errorf("%d lag series, want %d", n, maxRows)
	}
	if n := testutil.CollectAndCount(r, "linkmesh_sql_rows_truncated"); n != 1 || !r.last.truncated {
		t.Error("truncation not said")
	}
}

// TestRunInterval: Run reads at once, then every Interval, never faster than
// MinInterval, and stops with its context.
func TestRunInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := linkSQL()
		r := New(Config{Querier: q, Probe: "sql1", Interval: time.Second}) // raised to MinInterval
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		if n := q.readCount(); n != 1 {
			t.Fatalf("%d reads at start, want 1", n)
		}
		time.Sleep(3 * MinInterval)
		synctest.Wait()
		if n := q.readCount(); n != 4 {
			t.Errorf("%d reads after 3 intervals, want 4", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// collectOnly sends r's metrics named name.
func collectOnly(r *Reader, ch chan<- prometheus.Metric, name string) {
	all := make(chan prometheus.Metric, 64)
	go func() { r.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `"`+name+`"`) {
			ch <- m
		}
	}
}
