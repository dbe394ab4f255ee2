//go:build windows

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
)

// isService reports whether the process runs as a Windows service.
func isService() bool {
	is, err := svc.IsWindowsService()
	return err == nil && is
}

// serviceLogger adds the Windows Event Log to logger when the process runs as
// a Windows service: warnings and errors, and the info lines, go to the
// source name (`linkmesh service install` registers it) as well as to the
// log file. It returns the function that closes the event log.
func serviceLogger(name string, logger *slog.Logger) (*slog.Logger, func()) {
	if !isService() {
		return logger, func() {}
	}
	el, err := eventlog.Open(name)
	if err != nil {
		logger.Warn("no Windows Event Log source; logging to the log file only (linkmesh service install registers it)", "source", name, "error", err)
		return logger, func() {}
	}
	return slog.New(teeHandler{logger.Handler(), &eventHandler{log: el}}), func() { el.Close() }
}

// teeHandler sends each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if t.a.Enabled(ctx, r.Level) {
		err = t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		if e := t.b.Handle(ctx, r); err == nil {
			err = e
		}
	}
	return err
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{t.a.WithGroup(g), t.b.WithGroup(g)}
}

// eventHandler writes records of Info and above to the Event Log, as
// "message key=value ...", with event id 1 (info), 2 (warning), 3 (error).
type eventHandler struct {
	log   *eventlog.Log
	attrs []slog.Attr
}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	switch {
	case r.Level >= slog.LevelError:
		return h.log.Error(3, b.String())
	case r.Level >= slog.LevelWarn:
		return h.log.Warning(2, b.String())
	}
	return h.log.Info(1, b.String())
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &eventHandler{log: h.log, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

// WithGroup keeps the attributes flat: the Event Log shows text.
func (h *eventHandler) WithGroup(string) slog.Handler { return h }
