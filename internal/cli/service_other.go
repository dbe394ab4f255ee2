//go:build !windows

package cli

import "context"

// AsService runs run as a Windows service when started by the service control
// manager; elsewhere it never does (systemd runs linkmesh as a plain process).
func AsService(context.Context, string, func(context.Context) error) (bool, error) {
	return false, nil
}
