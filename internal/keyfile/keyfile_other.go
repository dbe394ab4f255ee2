//go:build !windows

package keyfile

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// createSecret creates path (which must not exist) with mode 0600, or 0640
// with its group set to opt.Group (before any secret byte is written).
func createSecret(path string, opt Options) (*os.File, error) {
	if opt.Account != "" {
		return nil, errors.New("an ACL account is for Windows; on this platform a key file is mode 0600 (its owner only), or 0640 for a group (--group)")
	}
	gid := -1
	if opt.Group != "" {
		g, err := user.LookupGroup(opt.Group)
		if err != nil {
			if g, err = user.LookupGroupId(opt.Group); err != nil {
				return nil, fmt.Errorf("group %q: no such group (the packages create linkmesh)", opt.Group)
			}
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return nil, fmt.Errorf("group %q: gid %q: %w", opt.Group, g.Gid, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil || gid < 0 {
		return f, err
	}
	if err := f.Chown(-1, gid); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("give the key to group %s: %w", opt.Group, err)
	}
	if err := f.Chmod(0o640); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// syncDir makes a rename in dir durable; a failure only risks the rename,
// which the caller cannot help, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
