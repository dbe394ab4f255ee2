// Package meshkey handles the mesh's shared secret: 32 random bytes that every
// probe and coordinator of one mesh holds. It encrypts gossip (memberlist's
// keyring) and authenticates the echo hello between probes (HMAC), so a host
// without the key can neither join the mesh nor pass for a probe's responder.
//
// On disk the key is one line of standard base64 (44 characters), created with
// `linkmesh certs mesh-key` or Generate. To rotate keys without a gap, a key file
// may hold more lines: the first is the key in use, the others are accepted
// (the next key, or the previous one) — see LoadRing and docs/security.md.
package meshkey

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/linkmesh/linkmesh/internal/keyfile"
)

// Size is the key length in bytes (AES-256 for memberlist).
const Size = 32

// Generate returns a new random key.
func Generate() ([]byte, error) {
	k := make([]byte, Size)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate mesh key: %w", err)
	}
	return k, nil
}

// Encode returns the key's file form (without a newline).
func Encode(k []byte) string {
	return base64.StdEncoding.EncodeToString(k)
}

// Parse decodes a key from its file form; surrounding white space is ignored.
func Parse(text []byte) ([]byte, error) {
	s := bytes.TrimSpace(text)
	k := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(k, s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if n != Size {
		return nil, fmt.Errorf("decodes to %d bytes, want %d (create one with `linkmesh certs mesh-key`)", n, Size)
	}
	return k[:n], nil
}

// Load reads a key file; errors name the file and what to fix.
func Load(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mesh key: %w", err)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("mesh key %s: %w", path, err)
	}
	return k, nil
}

// LoadRing reads a key file of one or more keys (one per line; blank lines and
// lines starting with # are skipped): the first is the primary key, the rest are
// also accepted.
func LoadRing(path string) (primary []byte, accepted [][]byte, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("mesh key: %w", err)
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := Parse(line)
		if err != nil {
			return nil, nil, fmt.Errorf("mesh key %s:%d: %w", path, i+1, err)
		}
		if primary == nil {
			primary = k
		} else {
			accepted = append(accepted, k)
		}
	}
	if primary == nil {
		return nil, nil, fmt.Errorf("mesh key %s: no key in the file (create one with `linkmesh certs mesh-key`)", path)
	}
	return primary, accepted, nil
}

// Write stores k at path, readable only by its owner (see WriteFor).
func Write(path string, k []byte) error {
	return WriteFor(path, k, keyfile.Options{})
}

// WriteFor stores k at path with keyfile.Write: atomically, mode 0600 on Unix;
// on Windows with an ACL for SYSTEM, Administrators, the current user and
// opt.Account only.
func WriteFor(path string, k []byte, opt keyfile.Options) error {
	if len(k) != Size {
		return fmt.Errorf("mesh key: %d bytes, want %d", len(k), Size)
	}
	if err := keyfile.Write(path, []byte(Encode(k)+"\n"), opt); err != nil {
		return fmt.Errorf("write mesh key: %w", err)
	}
	return nil
}
