//go:build linux

package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// waitHTTPOK waits until url answers 200 through client (a readiness
// endpoint), failing t after within.
func waitHTTPOK(t testing.TB, client *http.Client, url string, within time.Duration, what string) {
	t.Helper()
	waitfor.Cond(t, within, what+" ready at "+url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
