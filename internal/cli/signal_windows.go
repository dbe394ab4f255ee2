//go:build windows

package cli

import (
	"context"
	"os"
)

// reloadSignals: Windows has no SIGHUP; the coordinator reloads on file change.
func reloadSignals(context.Context) <-chan os.Signal { return nil }
