package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/linkmesh/linkmesh/internal/buildinfo"
)

// Version runs `linkmesh version`.
func Version(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usageErrorf("version takes no arguments")
	}
	_, err := fmt.Fprintf(stdout, "linkmesh %s %s\n", buildinfo.Version(), buildinfo.Platform())
	return err
}
