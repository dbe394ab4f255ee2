// Package cli implements the linkmesh subcommands: flag parsing, logging setup and
// wiring of the probe, coordinator and demo. The root main.go dispatches to it.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// ExitError carries an exit code other than these (check's 3, PARTIAL).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// UsageError marks an error in how the command was called (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Exit prints err (if any) and returns the process exit code for it.
func Exit(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "linkmesh: %v\n", err)
	var ue *UsageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	if ee := (*ExitError)(nil); errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}

// parse parses args with fs, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// logFlags adds --log-level, --log-format and --log-file (with its rotation) to fs.
type logFlags struct {
	level  string
	format string
	file   string
	// Rotation of --log-file (lumberjack): size in megabytes, rotated files
	// kept, and their age in days (0: kept whatever their age).
	maxSizeMB  int
	maxBackups int
	maxAgeDays int
}

// Defaults of the --log-file rotation: at most 6 files of 100 MB (600 MB).
const (
	defaultLogMaxSizeMB  = 100
	defaultLogMaxBackups = 5
	defaultLogMaxAgeDays = 30
)

func (l *logFlags) register(fs *flag.FlagSet, level string) {
	fs.StringVar(&l.level, "log-level", level, "log level: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.file, "log-file", "", "append logs to this file instead of standard error (for a Windows service); it is rotated by size (--log-file-max-size), the rotated files named FILE-TIMESTAMP")
	fs.IntVar(&l.maxSizeMB, "log-file-max-size", defaultLogMaxSizeMB, "rotate --log-file when it reaches this many megabytes")
	fs.IntVar(&l.maxBackups, "log-file-max-backups", defaultLogMaxBackups, "rotated log files kept (0: all, bounded by --log-file-max-age)")
	fs.IntVar(&l.maxAgeDays, "log-file-max-age", defaultLogMaxAgeDays, "days a rotated log file is kept (0: no limit, bounded by --log-file-max-backups)")
}

// openLogFile checks that the log file can be opened for appending (so a bad
// path is a usage error now, not lost log lines later) and returns its
// rotating writer. lumberjack runs one goroutine for the removal of old files
// once it first rotates; like the file, it lives as long as the process.
func (l *logFlags) openLogFile() (io.Writer, error) {
	switch {
	case l.maxSizeMB < 1:
		return nil, usageErrorf("--log-file-max-size %d: give at least 1 (megabytes)", l.maxSizeMB)
	case l.maxBackups < 0:
		return nil, usageErrorf("--log-file-max-backups %d: give 0 or more", l.maxBackups)
	case l.maxAgeDays < 0:
		return nil, usageErrorf("--log-file-max-age %d: give 0 or more days", l.maxAgeDays)
	}
	f, err := os.OpenFile(l.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, usageErrorf("--log-file: %v", err)
	}
	f.Close() // lumberjack reopens it, and keeps its mode for the files it rotates to
	return &lumberjack.Logger{
		Filename:   l.file,
		MaxSize:    l.maxSizeMB,
		MaxBackups: l.maxBackups,
		MaxAge:     l.maxAgeDays,
	}, nil
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usageErrorf("--log-level %q: use debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if l.file != "" {
		f, err := l.openLogFile()
		if err != nil {
			return nil, err
		}
		w = f // held open for the life of the process
	}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("--log-format %q: use text or json", l.format)
}

// webConfigFlag is the flag that names the HTTP port's web config, spelled
// as node_exporter's.
const (
	webConfigFlag  = "web.config.file"
	webConfigUsage = "web config file (the format of prometheus/exporter-toolkit, as node_exporter's --web.config.file): TLS and basic auth for the HTTP port; see docs/security.md"
)

// listFlag is a repeatable flag that also splits on commas.
type listFlag []string

func (f *listFlag) String() string { return strings.Join(*f, ",") }

// Set adds one or more comma-separated values.
func (f *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*f = append(*f, s)
		}
	}
	return nil
}

// labelFlag is a repeatable key=value flag.
type labelFlag map[string]string

func (f labelFlag) String() string {
	parts := make([]string, 0, len(f))
	for k, v := range f {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

// Set adds key=value pairs (comma-separated or repeated).
func (f labelFlag) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", kv)
		}
		f[k] = val
	}
	return nil
}

// newFlagSet returns the flag set of a command. Its usage text is synopsis
// (the "usage: linkmesh …" lines and what the command does), then the flags.
// It goes to stdout when args ask for help (-h, -help, --help: the answer
// is the output asked for), else to stderr (a mistake in the flags).
func newFlagSet(name, synopsis string, args []string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := stderr
	if wantsHelp(args) {
		out = stdout
	}
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, strings.TrimRight(synopsis, "\n"))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(out, "\nflags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help", "-h=true", "--help=true":
			return true
		}
	}
	return false
}
