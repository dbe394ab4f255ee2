package coordinator

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/coordinator/policy"
)

// configPoll is how often WatchConfig looks at the config file's modification time.
const configPoll = 2 * time.Second

// WatchConfig reloads the config file when it changes on disk (its modification
// time differs from loaded, the one it had when the running config was read) or
// when a signal arrives on hup (SIGHUP), until ctx is done. A file that fails
// validation is refused with its error logged, and the running config stays.
func (s *Server) WatchConfig(ctx context.Context, path string, loaded time.Time, hup <-chan os.Signal) error {
	last := loaded
	t := time.NewTicker(configPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			last = ModTime(path)
			s.reloadFile(path, "signal")
		case <-t.C:
			if m := ModTime(path); !m.Equal(last) {
				last = m
				s.reloadFile(path, "file changed")
			}
		}
	}
}

// ModTime returns the file's modification time (zero if it cannot be read);
// callers read it just before loading the config they pass to WatchConfig.
func ModTime(path string) time.Time {
	st, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

func (s *Server) reloadFile(path, why string) {
	cfg, err := config.Load(path)
	if err == nil {
		err = s.Reload(cfg)
	}
	if err != nil {
		s.reloadFailures.Inc()
		s.logger.Error("config reload refused; the running config stays", "trigger", why, "error", err)
		return
	}
	s.logger.Info("config reloaded", "trigger", why, "rules", len(cfg.Paths))
	for _, w := range cfg.Warnings() {
		s.logger.Warn("config: " + w)
	}
}

// Reload replaces the path policy and the other settings that can change while
// running. Listen addresses, gossip, the mesh key and the web config's path
// need a restart: a change to them is refused. A policy that would expand beyond limits.max_paths over the
// current probes is refused.
func (s *Server) Reload(cfg *config.Config) error {
	old := s.cfg.Load()
	if cfg.Listen != old.Listen || !reflect.DeepEqual(cfg.Gossip, old.Gossip) || cfg.MeshKeyFile != old.MeshKeyFile || cfg.Name != old.Name || cfg.Web != old.Web {
		return fmt.Errorf("name, listen, gossip, mesh_key_file and web.config_file take effect only at a restart; restart the coordinator to change them")
	}
	if n := policy.Count(cfg.Paths, s.store.Probes()); n > cfg.Limits.MaxPaths {
		return fmt.Errorf("the policy expands to %d paths over the current probes, above limits.max_paths (%d); narrow the rules or raise the limit", n, cfg.Limits.MaxPaths)
	}
	s.cfg.Store(cfg)
	s.applyForget(cfg)
	s.plans.ConfigChanged()
	return nil
}
