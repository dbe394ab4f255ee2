//go:build !windows

package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadSignals delivers SIGHUP (the config-reload signal) until ctx is done.
func reloadSignals(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Stop(ch) })
	return ch
}
