package standin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// DefaultAllowedPorts are the ports a coordinator may ask a probe's stand-in
// on when the probe says nothing (--stand-in-ports): the database mirroring
// endpoint's.
var DefaultAllowedPorts = []uint32{5022}

// AllowPorts restricts the ports coordinators' stand-in requests may bind to
// ports (the probe's --stand-in-ports; none: DefaultAllowedPorts); call it
// before Run. The probe's own --stand-in ports (Continuous requests) are
// always allowed. A Manager whose AllowPorts was never called binds any port
// asked for.
func (m *Manager) AllowPorts(ports []uint32) {
	if len(ports) == 0 {
		ports = DefaultAllowedPorts
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allowed = slices.Clone(ports)
}

// startAllowed starts r when its port is allowed, or records the refusal
// without touching the port.
func (m *Manager) startAllowed(ctx context.Context, r Request, wg *sync.WaitGroup) *entry {
	if r.Continuous || m.allowed == nil || slices.Contains(m.allowed, r.Port) {
		return m.start(ctx, r, wg)
	}
	allowed := make([]string, len(m.allowed))
	for i, p := range m.allowed {
		allowed[i] = strconv.FormatUint(uint64(p), 10)
	}
	e := &entry{req: r, status: &linkmeshv1.StandInStatus{
		Port:   r.Port,
		State:  linkmeshv1.StandInState_STAND_IN_STATE_FAILED,
		Detail: fmt.Sprintf("port %d is not one of this probe's --stand-in-ports (%s): not bound", r.Port, strings.Join(allowed, ", ")),
	}}
	m.logger.Warn("stand-in refused: the port is not in --stand-in-ports", "port", r.Port, "allowed", m.allowed)
	return e
}
