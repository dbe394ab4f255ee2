package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/proto"
)

// The plan cache keeps the latest plan on disk, so a probe that restarts while no
// coordinator answers goes on measuring what it measured before. Only the
// standing plan: the targets of check rounds and the stand-ins are requests of
// the moment, never written and never read back (a restarted probe must not
// replay a round's attempts and bursts, nor bind 5022 again).

// standingPlan returns a copy of plan without the targets of check rounds
// (Target.round set, or bounded Target.attempts) and without stand-ins.
func standingPlan(plan *linkmeshv1.Plan) *linkmeshv1.Plan {
	out := proto.CloneOf(plan)
	out.StandIns = nil
	out.Targets = slices.DeleteFunc(out.Targets, func(t *linkmeshv1.Target) bool {
		return t.GetRound() != "" || t.GetAttempts() > 0
	})
	return out
}

// loadPlan reads a cached plan; a missing file is not an error (nil, nil).
func loadPlan(path string) (*linkmeshv1.Plan, error) {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plan cache: %w", err)
	}
	var plan linkmeshv1.Plan
	if err := proto.Unmarshal(data, &plan); err != nil {
		return nil, fmt.Errorf("plan cache %s is damaged (delete it; the next plan rewrites it): %w", path, err)
	}
	return standingPlan(&plan), nil
}

// savePlan writes the standing part of plan atomically: a crash leaves the old
// file or the new one.
func savePlan(path string, plan *linkmeshv1.Plan) error {
	data, err := proto.Marshal(standingPlan(plan))
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("plan cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plan-*")
	if err != nil {
		return fmt.Errorf("plan cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write plan cache: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync plan cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close plan cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace plan cache: %w", err)
	}
	return nil
}

// DefaultPlanCache returns the default plan cache file for a probe name: in the
// user's cache directory (on Windows %LocalAppData%), or "" when there is none.
func DefaultPlanCache(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "linkmesh", name+"-plan.pb")
}
