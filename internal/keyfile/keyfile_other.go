//go:build !windows

package keyfile

import (
	"errors"
	"os"
)

// createSecret creates path (which must not exist) with mode 0600.
func createSecret(path string, opt Options) (*os.File, error) {
	if opt.Account != "" {
		return nil, errors.New("an ACL account is for Windows; on this platform a key file is mode 0600 (its owner only)")
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// syncDir makes a rename in dir durable; a failure only risks the rename,
// which the caller cannot help, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
