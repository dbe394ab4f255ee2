//go:build windows

package pmtu

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// ipDontFragment and ipv6DontFrag are IP_DONTFRAGMENT and IPV6_DONTFRAG from
// ws2ipdef.h.
const (
	ipDontFragment = 14
	ipv6DontFrag   = 14
)

func setDontFragment(fd uintptr, network string) error {
	level, opt := windows.IPPROTO_IP, ipDontFragment
	if network == "tcp6" || network == "udp6" {
		level, opt = windows.IPPROTO_IPV6, ipv6DontFrag
	}
	if err := windows.SetsockoptInt(windows.Handle(fd), level, opt, 1); err != nil {
		return fmt.Errorf("set don't-fragment: %w", err)
	}
	return nil
}
