//go:build linux

package pmtu

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func setDontFragment(fd uintptr, network string) error {
	level, opt, val := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO
	if network == "tcp6" || network == "udp6" {
		level, opt, val = unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DO
	}
	if err := unix.SetsockoptInt(int(fd), level, opt, val); err != nil {
		return fmt.Errorf("set don't-fragment: %w", err)
	}
	return nil
}
