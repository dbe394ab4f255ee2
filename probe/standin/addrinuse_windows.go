//go:build windows

package standin

import (
	"errors"

	"golang.org/x/sys/windows"
)

// addrInUse: WSAEADDRINUSE, or WSAEACCES when the holder bound the port with
// SO_EXCLUSIVEADDRUSE (as services commonly do).
func addrInUse(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, windows.WSAEACCES)
}
