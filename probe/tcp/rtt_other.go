//go:build !linux && !windows

package tcp

import "net"

// handshakeInfo has no kernel figure to offer on this platform: the connect time is
// used. (macOS's TCP_CONNECTION_INFO and the BSDs' TCP_INFO report an RTT in
// milliseconds at best, coarser than the connect time on the paths we care about.)
func handshakeInfo(*net.TCPConn) (kernelInfo, error) {
	return kernelInfo{}, nil
}
