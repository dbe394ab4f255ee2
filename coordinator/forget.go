package coordinator

import (
	"context"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
)

// forgetEvery is how often the coordinator looks for probes silent for
// forget_after (the first look is at start, right after the state restored).
const forgetEvery = time.Minute

// forgetLoop forgets silent probes every forgetEvery until ctx is done.
func (s *Server) forgetLoop(ctx context.Context) error {
	t := time.NewTicker(forgetEvery)
	defer t.Stop()
	for {
		s.forgetSilent()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// forgetSilent forgets the probes silent for the config's forget_after, with
// their paths, and logs each once.
func (s *Server) forgetSilent() {
	after := s.cfg.Load().ForgetAfter
	if after <= 0 {
		after = pathstate.DefaultForgetAfter
	}
	for _, f := range s.store.ForgetSilent(after) {
		s.logger.Info("probe forgotten: silent for forget_after; its paths leave /metrics and the state directory",
			"probe", f.Name, "site", f.Site, "last_seen", f.LastSeen, "forget_after", after, "paths", f.Paths)
	}
}

// applyForget forgets the probes the config's forget list names (at start
// and on every reload), and logs each once.
func (s *Server) applyForget(cfg *config.Config) {
	if len(cfg.Forget) == 0 {
		return
	}
	forgot, running := s.store.Forget(cfg.Forget...)
	for _, f := range forgot {
		s.logger.Info("probe forgotten: named in the config's forget list; its paths leave /metrics and the state directory",
			"probe", f.Name, "site", f.Site, "last_seen", f.LastSeen, "paths", f.Paths)
	}
	for _, name := range running {
		s.logger.Warn("probe in the config's forget list not forgotten: it is running (holds a plan stream open); stop it, then reload the config", "probe", name)
	}
}
