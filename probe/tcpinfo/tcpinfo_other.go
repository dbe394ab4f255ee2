//go:build !linux && !windows

package tcpinfo

import "net"

func get(*net.TCPConn) (Info, error) { return Info{}, ErrUnsupported }
