package check

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"github.com/linkmesh/linkmesh/proto/vocab"
)

// BurstBytes is the coordinated mode's throughput burst, from the probe on the
// SQL Server host to the peer's responder (the direction seeding flows), run
// when --database-size is given. The probe caps it at 5 seconds.
const BurstBytes = 64 << 20

// RoundFunc asks the coordinator for an on-demand round and returns what it
// measured; progress receives the coordinator's progress lines as they come.
// The CLI implements it over the gRPC API (MeshService.RunCheck).
type RoundFunc func(ctx context.Context, progress func(string)) (*linkmeshv1.CheckRound, error)

// Coordinated configures the coordinated mode.
type Coordinated struct {
	// Round runs the round.
	Round RoundFunc
	// Progress receives the round's progress lines (nil: none). When Run
	// writes to the same writer, pass both the same SyncWriter.
	Progress io.Writer
	// StandIn says whether the round asks for a stand-in endpoint (--stand-in).
	StandIn bool
	// DatabaseSize is --database-size: when set, the round bursts and BW has
	// a throughput to estimate seeding with.
	DatabaseSize Size
}

// Round is the on-demand round the coordinated rows share. It runs once, when
// the first of them needs it, and after EP has connected to SQL Server's
// endpoint: EP must see what listens there, never the round's stand-in. Its
// methods are safe for concurrent use.
type Round struct {
	co     Coordinated
	subnet netip.Prefix
	port   uint16

	epDone chan struct{} // closed when EP ended; nil when EP does not run
	ep     Outcome

	once sync.Once
	res  *linkmeshv1.CheckRound
	err  error
}

// Err is why the round could not run (nil when it ran, or has not yet).
// Call it after Run: its rows are skipped with this reason.
func (r *Round) Err() error { return r.err }

// Result is the round as the coordinator returned it (nil when it did not
// run). Call it after Run.
func (r *Round) Result() *linkmeshv1.CheckRound { return r.res }

// Wait runs the round if no row has yet and waits for it to end: what must
// not overlap it (P3-MI's stand-in on the same port) runs after.
func (r *Round) Wait(ctx context.Context) error {
	_, err := r.get(ctx)
	return err
}

// Throughput is the burst's throughput in bits per second (0: not measured).
// Call it after Run.
func (r *Round) Throughput() float64 {
	if r.res == nil {
		return 0
	}
	bps, _ := throughput(targetOf(r.res, vocab.RoleEchoToPeer))
	return bps
}

// get runs the round on the first call and returns it to every caller.
func (r *Round) get(ctx context.Context) (*linkmeshv1.CheckRound, error) {
	r.once.Do(func() {
		if r.epDone != nil {
			select {
			case <-r.epDone:
			case <-ctx.Done():
				r.err = ctx.Err()
				return
			}
		}
		r.res, r.err = r.co.Round(ctx, r.progress)
		if r.err == nil && r.res == nil {
			r.err = fmt.Errorf("the coordinator ended the round without its results")
		}
	})
	return r.res, r.err
}

func (r *Round) progress(line string) {
	if r.co.Progress == nil {
		return
	}
	fmt.Fprintf(r.co.Progress, "  · %s\n", line)
}

// row makes a check whose outcome is judged from the round.
func (r *Round) row(id, what string, required bool, judge func(*linkmeshv1.CheckRound) Outcome) Check {
	return Check{ID: id, What: what, Required: required, Run: func(ctx context.Context) Outcome {
		rd, err := r.get(ctx)
		if err != nil {
			return Outcome{Status: Skip, Reason: "not measured: the round through the coordinator did not run: " + err.Error()}
		}
		return judge(rd)
	}}
}

// CoordinatedChecks returns the coordinated mode's checks, in report order:
// the standalone rows from this host (D1, P1, P2, EP), then the rows an
// on-demand round through the coordinator measures from both sites — P3 (the
// MI's VNet reaches SQL Server's endpoint), the stand-in, D2, MTU and BW — and
// the Round they share. cfg must have passed Validate.
func CoordinatedChecks(cfg Config, co Coordinated) ([]Check, *Round) {
	r := &Round{co: co, subnet: cfg.MISubnet, port: uint16(endpointPort(cfg))}
	checks := Standalone(cfg)
	for i, c := range checks {
		if c.ID != "EP" || c.Run == nil {
			continue
		}
		run := c.Run
		r.epDone = make(chan struct{})
		checks[i].Run = func(ctx context.Context) Outcome {
			defer close(r.epDone)
			r.ep = run(ctx)
			return r.ep
		}
	}
	peer := PeerChecks(cfg)
	byID := map[string]Check{}
	for _, c := range peer {
		byID[c.ID] = c
	}
	standIn := Check{ID: StandInID, What: fmt.Sprintf("stand-in endpoint on the SQL Server host, TCP %d", r.port),
		Skip: "not asked for (--stand-in=false): P3 connects to what listens on the port"}
	if co.StandIn {
		standIn = r.row(StandInID, standIn.What, false, r.standInOutcome)
	}
	bw := Check{ID: "BW", What: byID["BW"].What, Skip: "give --database-size (e.g. 500GB) for a throughput burst and a seeding-time estimate"}
	if co.DatabaseSize > 0 {
		bw = r.row("BW", bw.What, false, r.bwOutcome)
	}
	checks = Replace(checks,
		r.row("P3", byID["P3"].What, true, r.p3Outcome),
		r.row("D2", byID["D2"].What, true, r.d2Outcome),
		r.row("MTU", byID["MTU"].What, true, r.mtuOutcome),
		bw,
	)
	// The stand-in row goes right after P3, which it explains.
	at := slices.IndexFunc(checks, func(c Check) bool { return c.ID == "P3" })
	checks = slices.Insert(checks, at+1, standIn)
	return checks, r
}

// StandInID is the ID of the coordinated mode's stand-in row.
const StandInID = "standin"

// endpointPort is the port of --sql-endpoint (5022 when none is given).
func endpointPort(cfg Config) int {
	if _, p, err := net.SplitHostPort(cfg.SQLEndpoint); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return n
		}
	}
	return SQLEndpointPort
}

// targetOf returns the round's target with role, or nil.
func targetOf(rd *linkmeshv1.CheckRound, role string) *linkmeshv1.CheckTarget {
	for _, t := range rd.GetTargets() {
		if t.GetRole() == role {
			return t
		}
	}
	return nil
}
