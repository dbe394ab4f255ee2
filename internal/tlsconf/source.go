package tlsconf

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery is how often, at most, a Source looks at its files' modification times.
const checkEvery = time.Second

// Source hands out the current Material and reloads it when the files change.
// It is safe for concurrent use; every TLS handshake calls Current.
type Source struct {
	files  Files
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	cur     *Material
	tried   [3]fileStamp // of the files last tried (failed or not)
	checked time.Time
	lastErr string
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewSource loads the files once (an error here is a startup error naming the
// file) and returns a Source that reloads them when they change.
func NewSource(f Files, logger *slog.Logger) (*Source, error) {
	s := &Source{files: f, logger: logger, now: time.Now}
	st, err := s.stamps()
	if err != nil {
		return nil, err
	}
	m, err := Load(f)
	if err != nil {
		return nil, err
	}
	s.cur, s.tried, s.checked = m, st, s.now()
	s.warnExpiry(m)
	return s, nil
}

// Files returns the files the Source reads.
func (s *Source) Files() Files { return s.files }

// Current returns the material to use for a handshake starting now. When the
// files changed since the last load it reloads them; if that fails, it logs why
// (once per change of the files) and keeps the previous material.
func (s *Source) Current() *Material {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.checked) < checkEvery {
		return s.cur
	}
	s.checked = now
	st, err := s.stamps()
	if err != nil {
		if msg := err.Error(); msg != s.lastErr {
			s.logger.Warn("TLS files unreadable; keeping the material loaded before", "error", err)
			s.lastErr = msg
		}
		return s.cur
	}
	if st == s.tried {
		return s.cur
	}
	s.tried = st
	m, err := Load(s.files)
	if err != nil {
		s.logger.Warn("TLS files changed but cannot be used; keeping the material loaded before", "error", err)
		s.lastErr = err.Error()
		return s.cur
	}
	s.cur, s.lastErr = m, ""
	s.logger.Info("TLS material reloaded", "cert", s.files.Cert, "subject", m.Leaf.Subject.CommonName, "not_after", m.Leaf.NotAfter)
	s.warnExpiry(m)
	return s.cur
}

func (s *Source) stamps() ([3]fileStamp, error) {
	var out [3]fileStamp
	for i, p := range []string{s.files.CA, s.files.Cert, s.files.Key} {
		fi, err := os.Stat(p)
		if err != nil {
			return out, fmt.Errorf("tls: %w", err)
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// warnExpiry logs a warning when the certificate expires within 30 days.
func (s *Source) warnExpiry(m *Material) {
	if left := m.Leaf.NotAfter.Sub(s.now()); left < 30*24*time.Hour {
		s.logger.Warn("TLS certificate expires soon; issue a new one with `linkmesh certs` (it is reloaded without a restart)",
			"cert", s.files.Cert, "not_after", m.Leaf.NotAfter, "days_left", int(left.Hours()/24))
	}
}
