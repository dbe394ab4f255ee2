// Package keyfile writes secret files — private keys and the mesh key — so that
// nobody but their owners can read them, not even for a moment while they are
// written.
//
// A file is written to a temporary file beside it, synced and renamed over the
// path, so a reader sees the old file or the whole new one. The temporary file
// is created already restricted, before any secret byte is written:
//
//   - on Unix with mode 0600 (owner read/write), whatever the umask, or 0640
//     owned by Options.Group when it names one (the group a service runs as);
//   - on Windows with a protected DACL (nothing inherited from the folder) that
//     grants full control to SYSTEM, BUILTIN\Administrators and the user
//     running the program (so they can copy the file), and read access to one
//     more account if Options.Account names it (the service account that
//     reads the key, e.g. NT SERVICE\linkmesh-probe). A rename keeps the DACL.
package keyfile

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// Options says who besides the owner may read a secret file.
type Options struct {
	// Account is one more account given read access on Windows: DOMAIN\user,
	// a local or well-known account name, NT SERVICE\<service> (the service's
	// SID, computed from its name, so the service need not exist yet), or a
	// SID (S-1-...). Empty: none. Other platforms refuse a non-empty Account:
	// a Unix file has one owner and mode 0600.
	Account string
	// Group is a Unix group given read access (mode 0640, the file's group
	// set to it), e.g. linkmesh, the group the packaged services run as. Its
	// name or numeric id. Empty: none. Windows refuses it (use Account).
	Group string
}

// Write stores data at path atomically, readable only as the package comment
// says. An existing file at path is replaced.
func Write(path string, data []byte, opt Options) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	var tmp string
	for range 10 {
		tmp = filepath.Join(dir, "."+base+".tmp-"+randomSuffix())
		f, err = createSecret(tmp, opt)
		if err == nil || !os.IsExist(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// serviceSID returns the SID Windows gives the service named name (the
// account NT SERVICE\name): S-1-5-80- followed by the SHA-1 of the upper-case
// name in UTF-16LE as five little-endian 32-bit numbers — what `sc showsid`
// prints, whether or not the service is installed.
func serviceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	sum := sha1.Sum(b)
	var s strings.Builder
	s.WriteString("S-1-5-80")
	for i := 0; i < len(sum); i += 4 {
		fmt.Fprintf(&s, "-%d", binary.LittleEndian.Uint32(sum[i:]))
	}
	return s.String()
}

// serviceName returns the service of an NT SERVICE\name account.
func serviceName(account string) (string, bool) {
	const prefix = `NT SERVICE\`
	if len(account) > len(prefix) && strings.EqualFold(account[:len(prefix)], prefix) {
		return account[len(prefix):], true
	}
	return "", false
}
