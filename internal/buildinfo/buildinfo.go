// Package buildinfo tells which linkmesh this is: its version, the commit it
// was built from and when, the Go release and the platform.
//
// The package build sets them at link time:
//
//	-ldflags "-X github.com/linkmesh/linkmesh/internal/buildinfo.version=v1.2.3
//	          -X github.com/linkmesh/linkmesh/internal/buildinfo.commit=0123abc
//	          -X github.com/linkmesh/linkmesh/internal/buildinfo.date=2026-12-03T12:00:00Z"
//
// Without them the version is the module version (go install …@v1.2.3) or
// "dev", and the commit and date come from the VCS stamp Go embeds when it
// builds inside a git checkout ("unknown" when there is none).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Set at link time (see the package doc).
var version, commit, date string

// Info describes this build.
type Info struct {
	Version   string // v1.2.3, or "dev"
	Commit    string // the commit hash, with "-dirty" for uncommitted changes; "unknown"
	Date      string // when it was built (or committed), RFC 3339; "unknown"
	GoVersion string // go1.26.8
	Platform  string // os/arch
}

// Get returns this build's Info.
func Get() Info {
	i := Info{Version: Version(), Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: Platform()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if i.Commit == "" && rev != "" {
			i.Commit = rev[:min(len(rev), 12)]
			if modified {
				i.Commit += "-dirty"
			}
		}
		if i.Date == "" {
			i.Date = at
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}

// String is the one line `linkmesh version` prints.
func (i Info) String() string {
	return fmt.Sprintf("linkmesh %s (commit %s, built %s) %s %s", i.Version, i.Commit, i.Date, i.GoVersion, i.Platform)
}

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

// Collector returns linkmesh_build_info: a constant 1 labelled with the
// version, commit (revision), build date, Go release, os and arch, as
// Prometheus' own <program>_build_info is. Register it on each /metrics.
func Collector() prometheus.Collector {
	i := Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "linkmesh_build_info",
		Help: "Constant 1, labelled with the build of this linkmesh: version, revision (commit), built (date), goversion, goos, goarch.",
		ConstLabels: prometheus.Labels{
			"version": i.Version, "revision": i.Commit, "built": i.Date,
			"goversion": i.GoVersion, "goos": runtime.GOOS, "goarch": runtime.GOARCH,
		},
	})
	g.Set(1)
	return g
}
