//go:build !linux && !windows

package pmtu

func setDontFragment(uintptr, string) error { return ErrUnsupported }
