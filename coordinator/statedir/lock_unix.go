//go:build !windows

package statedir

import (
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive, non-blocking flock on f.
func lock(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
