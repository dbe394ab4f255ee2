package cli

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// TestLogFileRotates: --log-file rotates at --log-file-max-size and keeps
// --log-file-max-backups rotated files; no file grows past the size.
func TestLogFileRotates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "linkmesh.log")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var lf logFlags
	lf.register(fs, "info")
	if err := parse(fs, []string{"--log-file", file, "--log-file-max-size", "1", "--log-file-max-backups", "2"}); err != nil {
		t.Fatal(err)
	}
	logger, err := lf.logger(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 1000)
	for i := range 4500 { // about 4.5 MB: four rotations
		logger.Info("line", "i", i, "pad", pad)
	}
	const mb = 1 << 20
	var names []string
	// The old files are removed in the background: wait for it.
	waitfor.Poll(10*time.Second, func() bool {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		names = names[:0]
		for _, e := range entries {
			names = append(names, e.Name())
			info, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() > mb {
				t.Fatalf("%s is %d bytes, past --log-file-max-size 1 (MB)", e.Name(), info.Size())
			}
		}
		return len(names) == 3
	})
	if len(names) != 3 {
		t.Fatalf("files %v: want the log file and 2 rotated ones", names)
	}
	for _, n := range names {
		if n != "linkmesh.log" && !strings.HasPrefix(n, "linkmesh-") {
			t.Errorf("unexpected file %s", n)
		}
	}
	if st, err := os.Stat(file); err != nil {
		t.Error(err)
	} else if st.Size() == 0 {
		t.Error("the current log file is empty; want the latest lines in it")
	}
}

// TestLogFileFlagsChecked: rotation flags out of range and an unwritable
// log file are usage errors at start.
func TestLogFileFlagsChecked(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-file", filepath.Join(dir, "a.log"), "--log-file-max-size", "0"}, "--log-file-max-size"},
		{[]string{"--log-file", filepath.Join(dir, "a.log"), "--log-file-max-backups", "-1"}, "--log-file-max-backups"},
		{[]string{"--log-file", filepath.Join(dir, "a.log"), "--log-file-max-age", "-1"}, "--log-file-max-age"},
		{[]string{"--log-file", filepath.Join(dir, "no-such-dir", "a.log")}, "--log-file"},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		var lf logFlags
		lf.register(fs, "info")
		if err := parse(fs, tc.args); err != nil {
			t.Fatal(err)
		}
		_, err := lf.logger(io.Discard)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want a usage error naming %s", tc.args, err, tc.want)
		}
	}
}
