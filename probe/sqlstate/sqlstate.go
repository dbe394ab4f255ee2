// Package sqlstate reads the MI link's own health from SQL Server's dynamic
// management views, on the probe beside SQL Server (--sql-dsn), at a modest
// interval, and exports it as linkmesh_sql_* series on the probe's /metrics:
// the distributed availability group's remote replica (connected, healthy),
// each linked database's synchronization state, log send and redo queues and
// rates, the secondary's lag and the age of its last hardened log, seeding
// progress and rate, and the endpoint certificate's expiry. Beside the
// network paths, it tells "the network is down" from "SQL Server is".
//
// A scrape never queries SQL Server: Reader.Run reads every Interval and a
// scrape exports the latest reading, so a slow server never slows /metrics
// and a scrape storm never loads SQL Server.
package sqlstate

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/internal/mssql"
)

// The queries, run on the SQL Server that is the link's primary (or on
// either side: rows that do not apply are simply absent). Only distributed
// availability groups are read: the link is one.
const (
	queryReplicas = `SELECT ag.name AS ag_name, ar.replica_server_name, rs.connected_state_desc, rs.synchronization_health_desc
FROM sys.dm_hadr_availability_replica_states AS rs
JOIN sys.availability_replicas AS ar ON ar.replica_id = rs.replica_id
JOIN sys.availability_groups AS ag ON ag.group_id = rs.group_id
WHERE rs.is_local = 0 AND ag.is_distributed = 1`
	queryDatabases = `SELECT ag.name AS ag_name, DB_NAME(drs.database_id) AS database_name, drs.synchronization_state_desc,
  drs.log_send_queue_size, drs.log_send_rate, drs.redo_queue_size, drs.redo_rate, drs.secondary_lag_seconds,
  DATEDIFF(second, drs.last_hardened_time, GETDATE()) AS last_hardened_age_seconds
FROM sys.dm_hadr_database_replica_states AS drs
JOIN sys.availability_groups AS ag ON ag.group_id = drs.group_id
WHERE drs.is_local = 0 AND ag.is_distributed = 1`
	querySeeding = `SELECT local_database_name, transferred_size_bytes, database_size_bytes, transfer_rate_bytes_per_second
FROM sys.dm_hadr_physical_seeding_stats`
	queryCertificate = `SELECT c.name, c.expiry_date
FROM master.sys.certificates AS c
JOIN master.sys.database_mirroring_endpoints AS e ON e.certificate_id = c.certificate_id`
)

// Bounds.
const (
	// DefaultInterval is how often the views are read.
	DefaultInterval = 30 * time.Second
	// MinInterval is the shortest interval allowed: the views are cheap,
	// but a probe is a guest on SQL Server's host.
	MinInterval = 5 * time.Second
	// maxRows caps the rows kept of each query (and so the series): a link
	// has one distributed group and tens of databases at most.
	maxRows = 256
)

// Config is a Reader's.
type Config struct {
	// Querier is the SQL Server connection.
	Querier mssql.Querier
	// Probe is this probe's name: the probe label of every series, which the
	// alerts join with the paths' source and target.
	Probe string
	// Interval between readings (0: DefaultInterval); Timeout bounds each
	// query (0: 10 s).
	Interval, Timeout time.Duration
	// Now is the clock of the readings' timestamps (nil: time.Now).
	Now func() time.Time
	// Logger says when reading starts or stops failing, once each.
	Logger *slog.Logger
}

// Reader reads the views and holds the latest reading for /metrics.
type Reader struct {
	cfg Config

	mu   sync.Mutex
	last reading
}

// reading is one read of the views.
type reading struct {
	at        time.Time
	err       error // the first query that failed; the others' rows are still kept
	replicas  []replica
	databases []database
	seeding   []seeding
	certs     []cert
	truncated bool
}

type replica struct {
	ag, name           string
	connected, healthy bool
}

// database is one linked database on the remote replica; a has* flag is
// false where the view gave NULL (the series is then absent).
type database struct {
	ag, name, state                                    string
	sendQueue, sendRate, redoQueue, redoRate           float64 // bytes, bytes/s
	lag, hardenedAge                                   float64 // seconds
	hasSend, hasRedo, hasRedoRate, hasLag, hasHardened bool
}

// seeding is one database's running automatic seeding.
type seeding struct {
	name                             string
	transferred, size, rate          float64
	hasTransferred, hasSize, hasRate bool
}

type cert struct {
	name   string
	expiry time.Time
}

// New returns a Reader; call Run to read.
func New(cfg Config) *Reader {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	cfg.Interval = max(cfg.Interval, MinInterval)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reader{cfg: cfg}
}

// Run reads the views at once and every Interval until ctx ends.
func (r *Reader) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	failing := false
	for {
		rd := r.read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case rd.err != nil && !failing:
			r.cfg.Logger.Warn("cannot read SQL Server's link state; linkmesh_sql_up is 0 until it can", "err", rd.err)
			failing = true
		case rd.err == nil && failing:
			r.cfg.Logger.Info("reading SQL Server's link state again")
			failing = false
		}
		r.mu.Lock()
		r.last = rd
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// read runs the four queries. A query that fails leaves its part empty and
// the reading marked failed (linkmesh_sql_up 0): what could not be read is
// absent, never left at an old value.
func (r *Reader) read(ctx context.Context) reading {
	rd := reading{at: r.cfg.Now()}
	for _, q := range []struct {
		name, text string
		parse      func(mssql.Table, *reading)
	}{
		{"replicas", queryReplicas, parseReplicas},
		{"databases", queryDatabases, parseDatabases},
		{"seeding", querySeeding, parseSeeding},
		{"certificate", queryCertificate, parseCert},
	} {
		qctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		t, err := r.cfg.Querier.Query(qctx, q.text)
		cancel()
		if err != nil {
			if rd.err == nil {
				rd.err = fmt.Errorf("%s: %w", q.name, err)
			}
			continue
		}
		if len(t.Rows) > maxRows {
			t.Rows, rd.truncated = t.Rows[:maxRows], true
		}
		q.parse(t, &rd)
	}
	return rd
}

func parseReplicas(t mssql.Table, rd *reading) {
	for i := range t.Rows {
		rd.replicas = append(rd.replicas, replica{
			ag: mssql.AsString(t.Get(i, "ag_name")), name: mssql.AsString(t.Get(i, "replica_server_name")),
			connected: mssql.AsString(t.Get(i, "connected_state_desc")) == "CONNECTED",
			healthy:   mssql.AsString(t.Get(i, "synchronization_health_desc")) == "HEALTHY",
		})
	}
}

// kb reads a KB (or KB/s) column into bytes.
func kb(v any) (float64, bool) {
	n, ok := mssql.AsInt(v)
	return float64(n) * 1024, ok
}

func parseDatabases(t mssql.Table, rd *reading) {
	for i := range t.Rows {
		d := database{ag: mssql.AsString(t.Get(i, "ag_name")), name: mssql.AsString(t.Get(i, "database_name")),
			state: mssql.AsString(t.Get(i, "synchronization_state_desc"))}
		var ok1, ok2 bool
		d.sendQueue, ok1 = kb(t.Get(i, "log_send_queue_size"))
		d.sendRate, ok2 = kb(t.Get(i, "log_send_rate"))
		d.hasSend = ok1 && ok2
		d.redoQueue, d.hasRedo = kb(t.Get(i, "redo_queue_size"))
		d.redoRate, d.hasRedoRate = kb(t.Get(i, "redo_rate"))
		if n, ok := mssql.AsInt(t.Get(i, "secondary_lag_seconds")); ok {
			d.lag, d.hasLag = float64(n), true
		}
		if n, ok := mssql.AsInt(t.Get(i, "last_hardened_age_seconds")); ok {
			d.hardenedAge, d.hasHardened = float64(max(n, 0)), true
		}
		rd.databases = append(rd.databases, d)
	}
}

func parseSeeding(t mssql.Table, rd *reading) {
	for i := range t.Rows {
		s := seeding{name: mssql.AsString(t.Get(i, "local_database_name"))}
		if n, ok := mssql.AsInt(t.Get(i, "transferred_size_bytes")); ok {
			s.transferred, s.hasTransferred = float64(n), true
		}
		if n, ok := mssql.AsInt(t.Get(i, "database_size_bytes")); ok {
			s.size, s.hasSize = float64(n), true
		}
		if n, ok := mssql.AsInt(t.Get(i, "transfer_rate_bytes_per_second")); ok {
			s.rate, s.hasRate = float64(n), true
		}
		rd.seeding = append(rd.seeding, s)
	}
}

func parseCert(t mssql.Table, rd *reading) {
	for i := range t.Rows {
		if e := mssql.AsTime(t.Get(i, "expiry_date")); !e.IsZero() {
			rd.certs = append(rd.certs, cert{name: mssql.AsString(t.Get(i, "name")), expiry: e})
		}
	}
}
