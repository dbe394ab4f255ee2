//go:build !unix && !windows

package tcp

import "net"

// discardPending does nothing on platforms without a non-blocking read here.
func discardPending(*net.TCPConn) error { return nil }
