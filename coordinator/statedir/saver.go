package statedir

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/prometheus/client_golang/prometheus"
)

// Saver writes the store's checkpoint to the state directory every
// interval (when anything changed) and commits it, which is what lets acks
// advance: a result is acked only once a checkpoint that counts it is on disk.
type Saver struct {
	dir      *Dir
	store    *pathstate.Store
	interval time.Duration
	logger   *slog.Logger

	saves    *prometheus.CounterVec
	lastSave prometheus.Gauge
	duration prometheus.Histogram

	mu     sync.Mutex // one save at a time
	failed bool       // the last save failed: the next one is forced
	// While saves fail, the log has said so once (at the first failure);
	// these tell the recovery line how long and how often it failed.
	failingSince time.Time
	failures     int
	lastErr      error
	closed       bool
}

// OpenSaver locks the state directory at path, restores its checkpoint into
// store, and switches store to durable acks.
func OpenSaver(path string, interval time.Duration, store *pathstate.Store, reg prometheus.Registerer, logger *slog.Logger) (*Saver, error) {
	d, err := Open(path)
	if err != nil {
		return nil, err
	}
	cp, err := d.Load()
	if err != nil {
		d.Close()
		return nil, err
	}
	if interval <= 0 {
		interval = time.Second
	}
	store.EnableCheckpoints()
	if cp != nil {
		dropped, err := store.Restore(cp)
		if err != nil {
			d.Close()
			return nil, err
		}
		if dropped.Probes+dropped.Paths > 0 {
			logger.Warn("checkpoint entries that fail validation left out", "dir", path, "probes", dropped.Probes, "paths", dropped.Paths, "first", dropped.First.Error())
		}
		logger.Info("state restored from the last checkpoint; probes replay what came after it", "dir", path, "taken", cp.Taken, "probes", len(cp.Probes), "paths", len(cp.Paths))
	} else {
		logger.Info("no checkpoint yet; starting with empty state", "dir", path)
	}
	c := &Saver{
		dir: d, store: store, interval: interval, logger: logger,
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkmesh_coordinator_checkpoints_total",
			Help: "Checkpoints of path state and probe cursors written to the state directory, by result (ok, error). Acks wait for them.",
		}, []string{"result"}),
		lastSave: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "linkmesh_coordinator_last_checkpoint_timestamp_seconds",
			Help: "When the latest checkpoint was written successfully.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "linkmesh_coordinator_checkpoint_duration_seconds",
			Help:    "Time to write one checkpoint (encode, write, fsync, rename).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
	}
	c.saves.WithLabelValues("ok")
	c.saves.WithLabelValues("error")
	reg.MustRegister(c.saves, c.lastSave, c.duration)
	return c, nil
}

// Run saves every interval until ctx is done.
func (c *Saver) Run(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.save()
		}
	}
}

func (c *Saver) save() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	cp, changed := c.store.Checkpoint(c.failed)
	if !changed {
		return
	}
	start := time.Now()
	err := c.dir.Save(cp)
	c.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		c.saves.WithLabelValues("error").Inc()
		if !c.failed {
			// Logged once per change of state: a save is tried every
			// interval, and its error names a new temporary file each time.
			c.failingSince, c.failures = start, 0
			c.logger.Error("cannot write the checkpoint; acks stop advancing, so probes keep their results until it works again (logged once; linkmesh_coordinator_checkpoints_total{result=\"error\"} counts the attempts)", "error", err)
		} else {
			c.logger.Debug("checkpoint still failing", "error", err)
		}
		c.failed, c.lastErr = true, err
		c.failures++
		return
	}
	if c.failed {
		c.logger.Info("checkpoint written again; acks advance", "failed_attempts", c.failures,
			"failing_for", time.Since(c.failingSince).Round(time.Millisecond).String(), "last_error", c.lastErr)
	}
	c.failed, c.lastErr, c.failures = false, nil, 0
	c.saves.WithLabelValues("ok").Inc()
	c.lastSave.SetToCurrentTime()
	c.store.Commit(cp)
}

// Final writes the last checkpoint (after ingest stopped) and releases the directory.
func (c *Saver) Final() {
	c.save()
	c.Close()
}

// Close releases the directory without a last save (a start that failed).
func (c *Saver) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.dir.Close()
	}
}
