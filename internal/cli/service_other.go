//go:build !windows

package cli

import (
	"context"
	"io"
	"log/slog"
)

// AsService runs run as a Windows service when started by the service control
// manager; elsewhere it never does (systemd runs linkmesh as a plain process).
func AsService(context.Context, string, func(context.Context) error) (bool, error) {
	return false, nil
}

// manageService: the Windows service manager exists only on Windows.
func manageService(context.Context, string, serviceSpec, io.Writer) error {
	return usageErrorf("linkmesh service is for Windows; on Linux install the package and use its systemd units (docs/install.md)")
}

// serviceLogger returns logger: only a Windows service logs to the Event Log.
func serviceLogger(_ string, logger *slog.Logger) (*slog.Logger, func()) { return logger, func() {} }

// isService: only Windows has services of this kind.
func isService() bool { return false }
