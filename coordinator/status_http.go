package coordinator

import (
	"encoding/json"
	"net/http"
	"time"
)

// handleStatus answers /api/v1/status (the status page polls it): bounded
// with /api/v1/paths (maxAPIInFlight), window as there.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	window, release, ok := s.apiRequest(w, r)
	if !ok {
		return
	}
	defer release()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(s.Status(window)); err != nil {
		s.logger.Warn("write /api/v1/status", "error", err)
	}
}

// apiRequest admits an API request within maxAPIInFlight (else answers 503
// with Retry-After) and reads its window (default 5m; else answers 400). When
// ok, the caller answers and then calls release.
func (s *Server) apiRequest(w http.ResponseWriter, r *http.Request) (window time.Duration, release func(), ok bool) {
	select {
	case s.apiSlots <- struct{}{}:
	default:
		s.apiRefused.Inc()
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many concurrent API requests; retry in a second", http.StatusServiceUnavailable)
		return 0, nil, false
	}
	release = func() { <-s.apiSlots }
	window = 5 * time.Minute
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 24*time.Hour {
			release()
			http.Error(w, "window: give a duration such as 30s or 5m (at most 24h)", http.StatusBadRequest)
			return 0, nil, false
		}
		window = d
	}
	return window, release, true
}
