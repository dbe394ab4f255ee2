package check

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// parallel is how many checks run at once: enough that the network rows wait
// for their timeouts together, few enough not to flood a SQL Server with queries.
const parallel = 8

// Run runs checks, at most a few at a time, and returns their rows in the order
// of checks. Checks with no Run are skipped at once. While it runs it writes
// progress to progress (nil: none): a line as each check ends, and every
// waitEvery which checks are still waiting, so a user watching a check wait
// for its timeout sees why nothing happens. It returns when every check has
// ended; ctx cancels the checks, which then end with their own results.
func Run(ctx context.Context, checks []Check, progress io.Writer) []Row {
	p := newProgress(progress, checks)
	rows := make([]Row, len(checks))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, c := range checks {
		if c.Run == nil {
			rows[i] = newRow(c, Outcome{Status: Skip, Reason: c.Skip}, 0)
			p.done(rows[i])
			continue
		}
		sem <- struct{}{}
		p.start(c.ID)
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			o := c.Run(ctx)
			rows[i] = newRow(c, o, time.Since(start))
			p.done(rows[i])
		})
	}
	wg.Wait()
	p.stop()
	return rows
}

// waitEvery is how often progress says which checks are still waiting.
const waitEvery = 2 * time.Second

// progress writes what Run is doing. Its methods are safe for concurrent use.
type progress struct {
	w     io.Writer
	total int
	began time.Time

	mu      sync.Mutex
	ended   int
	running []string // IDs, in start order
	stopped chan struct{}
	ticker  sync.WaitGroup
}

func newProgress(w io.Writer, checks []Check) *progress {
	p := &progress{w: w, total: len(checks), began: time.Now(), stopped: make(chan struct{})}
	if w == nil {
		return p
	}
	p.ticker.Go(func() {
		t := time.NewTicker(waitEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stopped:
				return
			case <-t.C:
				p.mu.Lock()
				if len(p.running) > 0 {
					fmt.Fprintf(p.w, "  … waiting for %s (%s)\n", strings.Join(p.running, ", "), roundDuration(time.Since(p.began)))
				}
				p.mu.Unlock()
			}
		}
	})
	return p
}

func (p *progress) start(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = append(p.running, id)
}

func (p *progress) done(r Row) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = slices.DeleteFunc(p.running, func(id string) bool { return id == r.ID })
	p.ended++
	if p.w == nil {
		return
	}
	line := fmt.Sprintf("  [%d/%d] %-4s %-12s %s", p.ended, p.total, r.Status, r.ID, r.What)
	if r.Status != Skip {
		line += fmt.Sprintf(" (%s)", roundDuration(r.Duration))
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) stop() {
	close(p.stopped)
	p.ticker.Wait()
}

// roundDuration renders d for people: "12 ms", "1.5 s".
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

// SyncWriter returns w made safe for concurrent use: each Write is whole.
// Run's progress and a round's progress lines share one through it.
func SyncWriter(w io.Writer) io.Writer { return &syncWriter{w: w} }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// After returns c with its Run waiting until the check id of checks has
// ended (at once when there is none, or it does not run). checks is changed
// in place to signal its end. P3-MI uses it so that EP sees what listens on
// SQL Server's endpoint port, never P3-MI's stand-in; checks must run with
// Run, where the check id, earlier in the list, starts first.
func After(checks []Check, id string, c Check) Check {
	var done chan struct{}
	for i := range checks {
		if checks[i].ID != id || checks[i].Run == nil {
			continue
		}
		run := checks[i].Run
		done = make(chan struct{})
		checks[i].Run = func(ctx context.Context) Outcome {
			defer close(done)
			return run(ctx)
		}
	}
	if done == nil {
		return c
	}
	run := c.Run
	c.Run = func(ctx context.Context) Outcome {
		select {
		case <-done:
		case <-ctx.Done():
			return Outcome{Status: Skip, Reason: fmt.Sprintf("not tested: interrupted while waiting for %s", id)}
		}
		return run(ctx)
	}
	return c
}
