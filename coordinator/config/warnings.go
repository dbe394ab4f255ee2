package config

import (
	"time"

	"github.com/linkmesh/linkmesh/internal/yamlconf"
)

// The kernels' first SYN retransmission: a connect whose first SYN (or its
// SYN-ACK) is lost is retried after this long (probe/tcp.SYNSchedule has the
// whole schedules; the coordinator does not import the probe).
const (
	linuxFirstSYNRetransmit   = time.Second
	windowsFirstSYNRetransmit = 3 * time.Second
	// synAnswerTime is left for the retransmitted SYN's answer to come back.
	synAnswerTime = 500 * time.Millisecond
)

// Warnings lists what the config allows but probably does not mean, each
// naming the file, line and field, and what to change. Unlike errors they do
// not stop the coordinator: `linkmesh coordinator --check-config` prints them,
// and the coordinator logs them at start and on every reload.
func (c *Config) Warnings() []string {
	return append([]string(nil), c.warnings...)
}

// ruleWarnings returns the warnings of the validated rules.
func (c *Config) ruleWarnings(doc *yamlconf.Doc) []string {
	var out []string
	for i, r := range c.Paths {
		if r.Kind != "tcp" && r.Kind != "echo" {
			continue
		}
		var seen string
		switch {
		case r.Timeout < linuxFirstSYNRetransmit+synAnswerTime:
			seen = "any probe"
		case r.Timeout < windowsFirstSYNRetransmit+synAnswerTime:
			seen = "probes on Windows"
		default:
			continue
		}
		out = append(out, doc.Errorf([]any{"paths", i, "timeout"},
			"%v is too short for %s to see a SYN retransmission (Linux resends a lost SYN after 1 s, Windows after 3 s): "+
				"every lost SYN or SYN-ACK fails the attempt as a timeout instead of costing a second. "+
				"The loss figure (linkmesh_path_loss_ratio) is not affected, the share of failed attempts is; "+
				"use a timeout of 4s or more to tell loss from an unreachable path",
			r.Timeout, seen).Error())
	}
	return out
}
