// Package buildinfo tells which linkmesh this is: the version (set at link time with
// -ldflags "-X github.com/linkmesh/linkmesh/internal/buildinfo.version=v1.2.3", else
// the module version when installed with go install, else "dev") and the platform.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

var version string

// Version returns the linkmesh version.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Platform returns "os/arch", e.g. "windows/amd64".
func Platform() string {
	return runtime.GOOS + "/" + runtime.GOARCH
}
