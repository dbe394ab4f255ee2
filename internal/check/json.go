package check

import (
	"encoding/json"
	"io"
	"math"
	"time"
)

// JSONVersion is the version of the JSON report's schema (docs/check.md). Adding
// a field keeps it; renaming, removing or changing the meaning of one bumps it.
// Version 2: "ready" is true only when every required row ran and passed (in
// version 1 it was true when none failed, skips included), "exit_code" can be
// 3 (partial), and "verdict", "untested" and "to_complete" are new.
const JSONVersion = 2

// jsonReport is the JSON report's schema, documented field by field in
// docs/check.md. Every field is always present (null or empty when unknown), so
// consumers need not guess.
type jsonReport struct {
	Schema          string      `json:"schema"`
	Version         int         `json:"version"`
	LinkmeshVersion string      `json:"linkmesh_version"`
	Mode            string      `json:"mode"`
	Host            string      `json:"host"`
	StartedAt       string      `json:"started_at"`
	DurationSeconds float64     `json:"duration_seconds"`
	Verdict         Verdict     `json:"verdict"`
	Ready           bool        `json:"ready"`
	ExitCode        int         `json:"exit_code"`
	Untested        []string    `json:"untested"`
	ToComplete      string      `json:"to_complete"`
	Summary         jsonSummary `json:"summary"`
	Inputs          jsonInputs  `json:"inputs"`
	Rows            []jsonRow   `json:"rows"`
	Seeding         jsonSeeding `json:"seeding"`
	Incomplete      string      `json:"incomplete"`
}

type jsonSummary struct {
	Pass int `json:"pass"`
	Fail int `json:"fail"`
	Warn int `json:"warn"`
	Skip int `json:"skip"`
}

type jsonInputs struct {
	MI                string   `json:"mi"`
	MIPort            uint16   `json:"mi_port"`
	MISubnet          string   `json:"mi_subnet"`
	MINode            string   `json:"mi_node"`
	HADRPorts         string   `json:"hadr_ports"`
	HADRSample        int      `json:"hadr_sample"`
	SQLEndpoint       string   `json:"sql_endpoint"`
	DNSServer         string   `json:"dns_server"`
	SQLReadiness      bool     `json:"sql_readiness"`
	MIReadiness       bool     `json:"mi_readiness"`
	MIAgentTest       bool     `json:"mi_agent_test"`
	Databases         []string `json:"databases"`
	DatabaseSizeBytes int64    `json:"database_size_bytes"`
	TimeoutSeconds    float64  `json:"timeout_seconds"`
	Coordinator       string   `json:"coordinator"`
	Probe             string   `json:"probe"`
	Peer              string   `json:"peer"`
	SQLHost           string   `json:"sql_host"`
	StandIn           bool     `json:"stand_in"`
}

type jsonRow struct {
	ID              string   `json:"id"`
	What            string   `json:"what"`
	Required        bool     `json:"required"`
	Status          Status   `json:"status"`
	Result          string   `json:"result"`
	Measured        string   `json:"measured"`
	Reason          string   `json:"reason"`
	DurationSeconds float64  `json:"duration_seconds"`
	Fix             *jsonFix `json:"fix"`
}

type jsonFix struct {
	For     string     `json:"for"`
	Summary string     `json:"summary"`
	Steps   []jsonStep `json:"steps"`
}

type jsonStep struct {
	Text    string `json:"text"`
	Command string `json:"command"`
	Shell   string `json:"shell"`
}

type jsonSeeding struct {
	DatabaseSizeBytes       int64    `json:"database_size_bytes"`
	ThroughputBitsPerSecond *float64 `json:"throughput_bits_per_second"`
	EstimateSeconds         *float64 `json:"estimate_seconds"`
	Note                    string   `json:"note"`
}

// WriteJSON writes the report as one JSON document (schema "linkmesh-check",
// version JSONVersion), indented, for pipelines and tools.
func WriteJSON(w io.Writer, r Report) error {
	s := r.Summary()
	out := jsonReport{
		Schema: "linkmesh-check", Version: JSONVersion, LinkmeshVersion: r.Version,
		Mode: r.Mode, Host: r.Host,
		StartedAt:       r.Started.UTC().Format(time.RFC3339),
		DurationSeconds: seconds(r.Duration),
		Verdict:         r.Verdict(),
		Ready:           r.Ready(),
		ExitCode:        r.ExitCode(),
		Untested:        ids(r.Untested()),
		ToComplete:      r.ToComplete(),
		Incomplete:      r.Incomplete,
		Summary:         jsonSummary(s),
		Inputs: jsonInputs{
			MI: r.Inputs.MI, MIPort: r.Inputs.MIPort, MISubnet: r.Inputs.MISubnet, MINode: r.Inputs.MINode,
			HADRPorts: r.Inputs.HADRPorts, HADRSample: r.Inputs.HADRSample, SQLEndpoint: r.Inputs.SQLEndpoint,
			DNSServer: r.Inputs.DNSServer, SQLReadiness: r.Inputs.SQLReadiness,
			MIReadiness: r.Inputs.MIReadiness, MIAgentTest: r.Inputs.MIAgentTest,
			Databases:         append([]string{}, r.Inputs.Databases...),
			DatabaseSizeBytes: int64(r.Inputs.DatabaseSize), TimeoutSeconds: seconds(r.Inputs.Timeout),
			Coordinator: r.Inputs.Coordinator, Probe: r.Inputs.Probe, Peer: r.Inputs.Peer,
			SQLHost: r.Inputs.SQLHost, StandIn: r.Inputs.StandIn,
		},
		Rows: make([]jsonRow, 0, len(r.Rows)),
		Seeding: jsonSeeding{
			DatabaseSizeBytes: int64(r.Seeding.DatabaseSize),
			Note:              r.Seeding.Note,
		},
	}
	if r.Seeding.Throughput > 0 {
		out.Seeding.ThroughputBitsPerSecond = &r.Seeding.Throughput
	}
	if r.Seeding.Estimate > 0 {
		est := seconds(r.Seeding.Estimate)
		out.Seeding.EstimateSeconds = &est
	}
	for _, row := range r.Rows {
		jr := jsonRow{ID: row.ID, What: row.What, Required: row.Required, Status: row.Status, Result: row.Result,
			Measured: row.Measured, Reason: row.Reason, DurationSeconds: seconds(row.Duration)}
		if row.Fix != nil {
			jr.Fix = &jsonFix{For: row.Fix.For, Summary: row.Fix.Summary, Steps: make([]jsonStep, len(row.Fix.Steps))}
			for i, st := range row.Fix.Steps {
				jr.Fix.Steps[i] = jsonStep(st)
			}
		}
		out.Rows = append(out.Rows, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// seconds renders d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	return math.Round(d.Seconds()*1000) / 1000
}
