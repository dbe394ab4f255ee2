package tcp

import (
	"errors"
	"net"

	"github.com/linkmesh/linkmesh/probe/tcpinfo"
)

// handshakeInfo reads the kernel's figures for a just-connected socket (Linux
// TCP_INFO, Windows SIO_TCP_INFO, through probe/tcpinfo). Where the platform has
// none it returns zero values and no error: the connect time is used. Older
// Windows versions fail the ioctl; the caller then falls back to the connect time.
func handshakeInfo(conn *net.TCPConn) (kernelInfo, error) {
	info, err := tcpinfo.Get(conn)
	if errors.Is(err, tcpinfo.ErrUnsupported) {
		return kernelInfo{}, nil
	}
	if err != nil {
		return kernelInfo{}, err
	}
	return kernelInfo{rtt: info.RTT, synRetransmits: info.SYNRetransmits, known: true}, nil
}
