//go:build windows

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/linkmesh/linkmesh/internal/keyfile"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// manageService does what `linkmesh service WHAT` asks of the service manager.
func manageService(ctx context.Context, what string, spec serviceSpec, out io.Writer) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("the service manager: %w (run as Administrator)", err)
	}
	defer m.Disconnect()
	if what == "install" {
		return installService(m, spec, out)
	}
	s, err := m.OpenService(spec.Name)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) && spec.IfInstalled {
		_, err = fmt.Fprintf(out, "service %s is not installed: nothing to %s\n", spec.Name, what)
		return err
	}
	if err != nil {
		return fmt.Errorf("service %s: %w (install it with linkmesh service install)", spec.Name, err)
	}
	defer s.Close()
	switch what {
	case "uninstall":
		return uninstallService(ctx, s, spec, out)
	case "start":
		err := s.Start()
		if errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			_, err = fmt.Fprintf(out, "%s: already running\n", spec.Name)
			return err
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", spec.Name, err)
		}
		return waitState(ctx, s, svc.Running, out)
	case "stop":
		_, err := s.Control(svc.Stop)
		if errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			_, err = fmt.Fprintf(out, "%s: already stopped\n", spec.Name)
			return err
		}
		if err != nil {
			return fmt.Errorf("stop %s: %w", spec.Name, err)
		}
		return waitState(ctx, s, svc.Stopped, out)
	}
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("status of %s: %w", spec.Name, err)
	}
	if _, err := fmt.Fprintf(out, "%s: %s (pid %d)\n", spec.Name, stateName(st.State), st.ProcessId); err != nil {
		return err
	}
	cfg, err := s.Config()
	if err != nil {
		_, err = fmt.Fprintf(out, "  (its configuration cannot be read: %v)\n", err)
		return err
	}
	_, err = fmt.Fprintf(out, "  runs: %s\n  as: %s\n", cfg.BinaryPathName, cfg.ServiceStartName)
	return err
}

// installService creates the service, or updates it when it exists, then
// sets what goes with it. Every step is reported; the service itself must
// succeed, the other steps are listed when they fail.
func installService(m *mgr.Mgr, spec serviceSpec, out io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := spec.Args()
	cfg := mgr.Config{
		DisplayName:      "linkmesh probe (" + spec.Name + ")",
		Description:      "Proves the network paths of the Azure SQL Managed Instance link, in both directions (linkmesh).",
		StartType:        mgr.StartAutomatic,
		ServiceStartName: spec.Account(),
	}
	s, err := m.OpenService(spec.Name)
	if err == nil {
		cfg.BinaryPathName = commandLine(exe, args)
		cfg.ServiceType = windows.SERVICE_WIN32_OWN_PROCESS
		cfg.ErrorControl = mgr.ErrorNormal
		if err := s.UpdateConfig(cfg); err != nil {
			s.Close()
			return fmt.Errorf("update service %s: %w", spec.Name, err)
		}
		fmt.Fprintf(out, "updated service %s: %s\n", spec.Name, cfg.BinaryPathName)
	} else {
		if s, err = m.CreateService(spec.Name, exe, cfg, args...); err != nil {
			return fmt.Errorf("create service %s: %w", spec.Name, err)
		}
		fmt.Fprintf(out, "created service %s as %s: %s\n", spec.Name, spec.Account(), commandLine(exe, args))
	}
	defer s.Close()
	var failed []string
	step := func(what string, err error) {
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", what, err))
			fmt.Fprintf(out, "  %s: FAILED: %v\n", what, err)
			return
		}
		fmt.Fprintf(out, "  %s: ok\n", what)
	}
	step("start at boot, delayed until the network is up", delayStart(s))
	step("restart after any failure (10 s, 30 s, 60 s; counted over a day)", setRecovery(s))
	_ = eventlog.Remove(spec.Name) // again: the source is registered anew
	step("Event Log source "+spec.Name, eventlog.InstallAsEventCreate(spec.Name, eventlog.Error|eventlog.Warning|eventlog.Info))
	for _, f := range spec.KeyFiles() {
		step("key "+f+" readable by SYSTEM, Administrators and "+spec.Account()+" only", restrictKey(f, spec.Account()))
	}
	for _, r := range spec.FirewallRules() {
		step("Windows Firewall: allow "+r.Name, addFirewallRule(r, exe))
	}
	if len(failed) > 0 {
		return fmt.Errorf("service %s installed, but %d steps failed (fix them and run install again; it is safe to repeat): %s", spec.Name, len(failed), strings.Join(failed, "; "))
	}
	_, err = fmt.Fprintf(out, "start it with: linkmesh service start --name %s\n", spec.Name)
	return err
}

// delayStart makes the automatic start a delayed one (after the boot's own
// services, the network among them).
func delayStart(s *mgr.Service) error {
	c, err := s.Config()
	if err != nil {
		return err
	}
	c.DelayedAutoStart = true
	return s.UpdateConfig(c)
}

// setRecovery restarts the service after every failure, including an exit
// with an error code while it reported no crash (failureflag).
func setRecovery(s *mgr.Service) error {
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		return err
	}
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}

// restrictKey rewrites a key file in place with a protected ACL: SYSTEM,
// Administrators, the writer and account (read) only.
func restrictKey(path, account string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return keyfile.Write(path, data, keyfile.Options{Account: account})
}

// addFirewallRule replaces the inbound rule of that name (so a repeated
// install creates it once).
func addFirewallRule(r firewallRule, exe string) error {
	_ = exec.Command("netsh", "advfirewall", "firewall", "delete", "rule", "name="+r.Name).Run()
	out, err := exec.Command("netsh", "advfirewall", "firewall", "add", "rule", "name="+r.Name, "dir=in", "action=allow",
		"protocol="+r.Protocol, fmt.Sprintf("localport=%d", r.Port), "program="+exe, "enable=yes").CombinedOutput()
	if err != nil {
		return fmt.Errorf("netsh: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// uninstallService stops the service, deletes it, its Event Log source and
// its firewall rules.
func uninstallService(ctx context.Context, s *mgr.Service, spec serviceSpec, out io.Writer) error {
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err == nil {
			_ = waitState(ctx, s, svc.Stopped, io.Discard)
		}
	}
	rules := installedRules(s, spec.Name)
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete service %s: %w", spec.Name, err)
	}
	fmt.Fprintf(out, "deleted service %s\n", spec.Name)
	var errs []error
	if err := eventlog.Remove(spec.Name); err != nil {
		errs = append(errs, fmt.Errorf("remove the event log source %s: %w", spec.Name, err))
	}
	for _, r := range rules { // deleting an absent rule is no error here
		_ = exec.Command("netsh", "advfirewall", "firewall", "delete", "rule", "name="+r.Name).Run()
	}
	return errors.Join(errs...)
}

// installedRules are the firewall rules install made for the service: from
// the probe flags of its installed command line (a --responder or
// --stand-in-ports of its own included), or, when that cannot be read, the
// rules of the default ports and --metrics :9023.
func installedRules(s *mgr.Service, name string) []firewallRule {
	spec := serviceSpec{Name: name, ProbeArgs: []string{"--metrics", ":9023"}}
	if cfg, err := s.Config(); err == nil {
		if args, err := windows.DecomposeCommandLine(cfg.BinaryPathName); err == nil && len(args) > 2 && args[1] == "probe" {
			spec.ProbeArgs = args[2:]
		}
	}
	return spec.FirewallRules()
}

// waitState waits up to 30 s for the service to reach want; waiting for
// Running, a service that stops instead is an error at once.
func waitState(ctx context.Context, s *mgr.Service, want svc.State, out io.Writer) error {
	name := s.Name
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			_, err := fmt.Fprintf(out, "%s\n", stateName(want))
			return err
		}
		if want == svc.Running && st.State == svc.Stopped {
			return fmt.Errorf("it stopped (exit code %d, service code %d): see the Event Log, source %s, and the log file",
				st.Win32ExitCode, st.ServiceSpecificExitCode, name)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("still %s after 30 s (want %s); see the Event Log and the log file", stateName(st.State), stateName(want))
		}
		time.Sleep(300 * time.Millisecond) // the service manager has no change notification for this
	}
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	}
	return fmt.Sprintf("state %d", s)
}

// commandLine is exe and args as Windows parses a command line.
func commandLine(exe string, args []string) string {
	parts := []string{syscall.EscapeArg(exe)}
	for _, a := range args {
		parts = append(parts, syscall.EscapeArg(a))
	}
	return strings.Join(parts, " ")
}
