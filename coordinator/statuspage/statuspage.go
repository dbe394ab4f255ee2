// Package statuspage is the coordinator's status page: one HTML page, its
// script and style sheet, built into the binary (no external assets, for
// air-gapped networks). The page reads /api/v1/status every few seconds;
// docs/status.md says what it shows.
package statuspage

import (
	"embed"
	"net/http"
)

//go:embed index.html status.js status.css
var files embed.FS

// csp lets the page load only its own script and style and talk only to the
// coordinator it came from.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register serves the page at / and its assets under /ui/ on mux.
func Register(mux *http.ServeMux) {
	serve := func(name, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			b, err := files.ReadFile(name)
			if err != nil {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			h := w.Header()
			h.Set("Content-Type", contentType)
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			w.Write(b)
		}
	}
	mux.HandleFunc("GET /{$}", serve("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /ui/status.js", serve("status.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /ui/status.css", serve("status.css", "text/css; charset=utf-8"))
}
