package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	i := Get()
	want := `# HELP linkmesh_build_info Constant 1, labelled with the build of this linkmesh: version, revision (commit), built (date), goversion, goos, goarch.
# TYPE linkmesh_build_info gauge
linkmesh_build_info{built="` + i.Date + `",goarch="` + runtime.GOARCH + `",goos="` + runtime.GOOS + `",goversion="` + runtime.Version() + `",revision="` + i.Commit + `",version="` + i.Version + `"} 1
`
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collector())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "linkmesh_build_info"); err != nil {
		t.Error(err)
	}
}

// TestGetLinkerValues: values set at link time win over the VCS stamp, and a
// build that says nothing reads "dev"/"unknown", never "".
func TestGetLinkerValues(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123abcd", "2026-12-03T12:00:00Z"
	if got, want := Get().String(), "linkmesh v1.2.3 (commit 0123abcd, built 2026-12-03T12:00:00Z) "+runtime.Version()+" "+Platform(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	version, commit, date = "", "", ""
	i := Get()
	if i.Version == "" || i.Commit == "" || i.Date == "" {
		t.Errorf("empty fields in %+v", i)
	}
}
