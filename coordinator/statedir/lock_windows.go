//go:build windows

package statedir

import (
	"os"

	"golang.org/x/sys/windows"
)

// lock takes an exclusive, non-blocking lock on f's first byte.
func lock(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

// syncDir is a no-op on Windows: a rename (MoveFileEx) is journaled by NTFS, and
// directories cannot be opened for FlushFileBuffers without special flags.
func syncDir(string) error { return nil }
