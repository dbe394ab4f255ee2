//go:build windows

package cli

import (
	"context"
	"fmt"

	"golang.org/x/sys/windows/svc"
)

// AsService runs run under the Windows service control manager when the process
// was started as a service (sc.exe / New-Service), so Stop and Shutdown end it
// cleanly; otherwise it runs run directly. handled reports whether it ran as a
// service.
func AsService(ctx context.Context, name string, run func(context.Context) error) (handled bool, err error) {
	is, err := svc.IsWindowsService()
	if err != nil || !is {
		return false, nil
	}
	h := &serviceHandler{ctx: ctx, run: run}
	if err := svc.Run(name, h); err != nil {
		return true, fmt.Errorf("windows service %s: %w", name, err)
	}
	return true, h.err
}

// serviceHandler adapts run to svc.Handler. The service control manager calls
// Execute once, on its own goroutine; Execute returns when run does.
type serviceHandler struct {
	ctx context.Context
	run func(context.Context) error
	err error
}

func (h *serviceHandler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			h.err = err
			status <- svc.Status{State: svc.Stopped}
			if err != nil {
				return true, 1
			}
			return false, 0
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
			}
		}
	}
}
