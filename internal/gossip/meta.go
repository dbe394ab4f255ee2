package gossip

import (
	"encoding/json"
	"fmt"
	"maps"
)

// Role says what a member is.
type Role string

// The roles in a mesh.
const (
	RoleProbe       Role = "probe"
	RoleCoordinator Role = "coordinator"
)

// Meta is what a member tells every other member about itself. It travels in
// memberlist's node metadata, which is limited to 512 bytes encoded.
type Meta struct {
	Role    Role              `json:"r"`
	Name    string            `json:"n"`
	Site    string            `json:"s,omitempty"`
	Labels  map[string]string `json:"l,omitempty"`
	Version string            `json:"v,omitempty"`
	// Responder is a probe's responder address (host:port).
	Responder string `json:"p,omitempty"`
	// GRPC is a coordinator's gRPC address (host:port) probes report to.
	GRPC string `json:"g,omitempty"`
	// Leaving is set just before a member leaves on purpose, so the others can
	// tell a clean stop from a death.
	Leaving bool `json:"x,omitempty"`
}

// maxMeta is memberlist's MetaMaxSize.
const maxMeta = 512

// encode returns the wire form of m, or an error naming what makes it too large.
func (m Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode member metadata: %w", err)
	}
	if len(b) > maxMeta {
		return nil, fmt.Errorf("member metadata is %d bytes, gossip allows %d: use fewer or shorter labels", len(b), maxMeta)
	}
	return b, nil
}

func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, fmt.Errorf("member has no linkmesh metadata")
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decode member metadata: %w", err)
	}
	return m, nil
}

func (m Meta) clone() Meta {
	m.Labels = maps.Clone(m.Labels)
	return m
}
