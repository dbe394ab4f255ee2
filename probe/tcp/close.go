package tcp

import (
	"fmt"
	"net"
)

// Bounds on what closeGracefully discards: a greeting or banner fits easily, and a
// peer that streams cannot keep the probe busy.
const (
	drainBufSize  = 1024
	drainMaxReads = 16
)

// closeGracefully closes conn so that the peer sees a FIN, never a RST.
//
// Go never sets SO_LINGER, so close(2) sends a FIN, except when received data is
// still unread: then Linux and Windows (RFC 1122 §4.2.2.13) abort the connection
// with a RST instead. A service that greets first (a banner) could have sent bytes
// by the time we close, so whatever has already arrived is discarded first, without
// waiting for more. Nothing is ever written.
func closeGracefully(conn *net.TCPConn) error {
	discardErr := discardPending(conn)
	if err := conn.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if discardErr != nil {
		return fmt.Errorf("discard received bytes: %w", discardErr)
	}
	return nil
}
