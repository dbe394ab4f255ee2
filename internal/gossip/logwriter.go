package gossip

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// logInterval is how often one kind of memberlist warning or error is logged:
// the first at once, then one summary per interval with the count held back.
const logInterval = time.Minute

// maxLogKinds bounds the kinds of lines tracked; further kinds share one.
const maxLogKinds = 64

// logWriter turns memberlist's "[LEVEL] memberlist: msg" lines into slog
// records, and rate-limits its warnings and errors by kind. memberlist logs one
// line per bad packet or connection (a decrypt failure, a malformed message):
// anyone who can send UDP to the gossip port could otherwise write 2,000 ERROR
// lines in 40 ms. The first line of a kind is written at once; the lines that
// follow within logInterval are counted, and the next line of that kind after
// the interval, or flush, writes one line with the count ("suppressed").
//
// memberlist's log.Logger serialises Write; flush comes from Node.Run.
type logWriter struct {
	logger   *slog.Logger
	interval time.Duration
	// lines counts the lines memberlist wrote (tests wait on it).
	lines atomic.Int64

	mu    sync.Mutex
	kinds map[string]*logKind
}

// logKind is the state of one kind of line.
type logKind struct {
	level slog.Level
	// written is when a line of this kind was last written.
	written time.Time
	// held counts the lines held back since; example is the latest of them.
	held    int
	example string
}

func newLogWriter(logger *slog.Logger, interval time.Duration) *logWriter {
	return &logWriter{logger: logger, interval: interval, kinds: map[string]*logKind{}}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.lines.Add(1)
	lvl, msg := parseLine(string(p))
	if lvl < slog.LevelWarn {
		w.logger.Log(context.Background(), lvl, msg)
		return len(p), nil
	}
	now := time.Now()
	w.mu.Lock()
	key := lineKind(lvl, msg)
	k, ok := w.kinds[key]
	if !ok {
		if len(w.kinds) >= maxLogKinds {
			key = "other"
			k, ok = w.kinds[key]
		}
		if !ok {
			k = &logKind{level: lvl}
			w.kinds[key] = k
		}
	}
	held := 0
	switch {
	case k.written.IsZero() || now.Sub(k.written) >= w.interval:
		held, k.held, k.written = k.held, 0, now
	default:
		k.held++
		k.example = msg
		msg = ""
	}
	w.mu.Unlock()
	if msg != "" {
		w.log(lvl, msg, held)
	}
	return len(p), nil
}

// flush writes a summary of every kind with lines held back for at least the
// interval (as of now), and forgets kinds quiet for two intervals.
func (w *logWriter) flush(now time.Time) {
	type summary struct {
		level slog.Level
		msg   string
		held  int
	}
	var out []summary
	w.mu.Lock()
	for key, k := range w.kinds {
		switch {
		case k.held > 0 && now.Sub(k.written) >= w.interval:
			out = append(out, summary{k.level, k.example, k.held})
			k.held, k.written, k.example = 0, now, ""
		case k.held == 0 && now.Sub(k.written) >= 2*w.interval:
			delete(w.kinds, key)
		}
	}
	w.mu.Unlock()
	for _, s := range out {
		w.log(s.level, s.msg, s.held-1)
	}
}

// log writes one line; held > 0 says how many lines of its kind it stands for
// besides itself.
func (w *logWriter) log(lvl slog.Level, msg string, held int) {
	if held > 0 {
		w.logger.Log(context.Background(), lvl, msg, "suppressed", held, "within", w.interval)
		return
	}
	w.logger.Log(context.Background(), lvl, msg)
}

// parseLine splits memberlist's "[LEVEL] memberlist: msg\n".
func parseLine(msg string) (slog.Level, string) {
	lvl := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{{"[DEBUG] ", slog.LevelDebug}, {"[INFO] ", slog.LevelInfo}, {"[WARN] ", slog.LevelWarn}, {"[ERR] ", slog.LevelError}, {"[ERROR] ", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
			lvl, msg = p.level, rest
			break
		}
	}
	msg = strings.TrimSuffix(msg, "\n")
	if strings.Contains(msg, "use of closed network connection") {
		// memberlist's gossip goroutine racing its own Shutdown: not a problem.
		lvl = slog.LevelDebug
	}
	return lvl, msg
}

// lineKind is what the lines of one kind share: the level and the message up
// to its first variable part (an error after ':', a quoted name, a number, an
// address), e.g. "Decrypt packet failed".
func lineKind(lvl slog.Level, msg string) string {
	msg = strings.TrimPrefix(msg, "memberlist: ")
	if i := strings.IndexAny(msg, ":'\"(%0123456789="); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return lvl.String() + " " + strings.TrimSpace(msg)
}
