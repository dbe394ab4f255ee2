package sqlstate

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, for the catalog and the rules.
var (
	descUp = prometheus.NewDesc("linkmesh_sql_up",
		"1 if the latest reading of SQL Server's link views succeeded, 0 if a query failed (its series are then absent, not stale).", []string{"probe"}, nil)
	descRead = prometheus.NewDesc("linkmesh_sql_last_read_timestamp_seconds",
		"When the probe last read SQL Server's link views (every --sql-interval).", []string{"probe"}, nil)
	descTruncated = prometheus.NewDesc("linkmesh_sql_rows_truncated",
		"1 if a view returned more rows than a probe keeps (256): some databases have no series.", []string{"probe"}, nil)
	descConnected = prometheus.NewDesc("linkmesh_sql_replica_connected",
		"1 if the link's remote replica (the distributed availability group's other side) is CONNECTED, else 0.", []string{"probe", "ag", "replica"}, nil)
	descHealthy = prometheus.NewDesc("linkmesh_sql_replica_healthy",
		"1 if the link's remote replica's synchronization health is HEALTHY, else 0.", []string{"probe", "ag", "replica"}, nil)
	descState = prometheus.NewDesc("linkmesh_sql_database_state",
		"1 for each linked database's current synchronization state on the remote replica (synchronized, synchronizing, not_synchronizing, reverting, initializing).", []string{"probe", "ag", "database", "state"}, nil)
	descSendQueue = prometheus.NewDesc("linkmesh_sql_log_send_queue_bytes",
		"Log not yet sent to the remote replica.", []string{"probe", "ag", "database"}, nil)
	descSendRate = prometheus.NewDesc("linkmesh_sql_log_send_rate_bytes_per_second",
		"Rate the log is being sent to the remote replica.", []string{"probe", "ag", "database"}, nil)
	descRedoQueue = prometheus.NewDesc("linkmesh_sql_redo_queue_bytes",
		"Log received by the remote replica and not yet redone.", []string{"probe", "ag", "database"}, nil)
	descRedoRate = prometheus.NewDesc("linkmesh_sql_redo_rate_bytes_per_second",
		"Rate the remote replica redoes log.", []string{"probe", "ag", "database"}, nil)
	descLag = prometheus.NewDesc("linkmesh_sql_secondary_lag_seconds",
		"How far the remote replica is behind (sys.dm_hadr_database_replica_states.secondary_lag_seconds).", []string{"probe", "ag", "database"}, nil)
	descHardened = prometheus.NewDesc("linkmesh_sql_last_hardened_age_seconds",
		"Seconds since the remote replica last hardened log (by SQL Server's clock).", []string{"probe", "ag", "database"}, nil)
	descSeedDone = prometheus.NewDesc("linkmesh_sql_seeding_transferred_bytes",
		"Bytes the running automatic seeding of a database has transferred (present only while it seeds).", []string{"probe", "database"}, nil)
	descSeedSize = prometheus.NewDesc("linkmesh_sql_seeding_database_bytes",
		"Size of the database being seeded (present only while it seeds).", []string{"probe", "database"}, nil)
	descSeedRate = prometheus.NewDesc("linkmesh_sql_seeding_rate_bytes_per_second",
		"Current transfer rate of the running seeding.", []string{"probe", "database"}, nil)
	descCertExpiry = prometheus.NewDesc("linkmesh_sql_endpoint_certificate_expiry_timestamp_seconds",
		"When the certificate SQL Server's mirroring endpoint authenticates with expires.", []string{"probe", "certificate"}, nil)
)

// Descs are every series a Reader exports (the deploy catalog reads them).
func Descs() []*prometheus.Desc {
	return []*prometheus.Desc{descUp, descRead, descTruncated, descConnected, descHealthy, descState, descSendQueue, descSendRate,
		descRedoQueue, descRedoRate, descLag, descHardened, descSeedDone, descSeedSize, descSeedRate, descCertExpiry}
}

// Describe sends Descs.
func (r *Reader) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range Descs() {
		ch <- d
	}
}

// Collect exports the latest reading; before the first one, nothing (not 0).
func (r *Reader) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	rd := r.last
	r.mu.Unlock()
	if rd.at.IsZero() {
		return
	}
	p := r.cfg.Probe
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{p}, labels...)...)
	}
	up, trunc := 1.0, 0.0
	if rd.err != nil {
		up = 0
	}
	if rd.truncated {
		trunc = 1
	}
	gauge(descUp, up)
	gauge(descRead, float64(rd.at.UnixMilli())/1e3)
	gauge(descTruncated, trunc)
	for _, x := range rd.replicas {
		gauge(descConnected, b2f(x.connected), x.ag, x.name)
		gauge(descHealthy, b2f(x.healthy), x.ag, x.name)
	}
	for _, d := range rd.databases {
		if d.state != "" {
			gauge(descState, 1, d.ag, d.name, strings.ReplaceAll(strings.ToLower(d.state), " ", "_"))
		}
		if d.hasSend {
			gauge(descSendQueue, d.sendQueue, d.ag, d.name)
			gauge(descSendRate, d.sendRate, d.ag, d.name)
		}
		if d.hasRedo {
			gauge(descRedoQueue, d.redoQueue, d.ag, d.name)
		}
		if d.hasRedoRate {
			gauge(descRedoRate, d.redoRate, d.ag, d.name)
		}
		if d.hasLag {
			gauge(descLag, d.lag, d.ag, d.name)
		}
		if d.hasHardened {
			gauge(descHardened, d.hardenedAge, d.ag, d.name)
		}
	}
	for _, s := range rd.seeding {
		if s.hasTransferred {
			gauge(descSeedDone, s.transferred, s.name)
		}
		if s.hasSize {
			gauge(descSeedSize, s.size, s.name)
		}
		if s.hasRate {
			gauge(descSeedRate, s.rate, s.name)
		}
	}
	for _, c := range rd.certs {
		gauge(descCertExpiry, float64(c.expiry.Unix()), c.name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
