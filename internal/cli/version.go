package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
)

// Version runs `linkmesh version`.
func Version(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", `usage: linkmesh version   (or linkmesh --version)

Prints the version, the commit it was built from and when, the Go release and
the platform.`, args, stdout, stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, buildinfo.Get())
	return err
}
