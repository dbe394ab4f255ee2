// Package loadgen drives a coordinator over its real gRPC API as K synthetic
// probes would: each registers, keeps its plan stream open and reports
// gap-free batches of results as fast as the coordinator takes them. It counts
// what the coordinator acknowledged as counted (the acked sequence numbers),
// not what was sent, so a rate it reports is the coordinator's ingest rate.
// Each probe's batches are encoded before the clock starts, as real probes
// encode theirs on their own hosts: the load generator shares the machine with
// the coordinator it measures, and its own encoding would otherwise be a
// fifth of the cores. The ingest benchmark (coordinator, BenchmarkIngest) and
// docs/benchmarks.md use it.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Config is one load run.
type Config struct {
	// Conn returns the connection probe i reports on: a connection of its
	// own, as a real probe has (the coordinator allows 8 streams per
	// connection), and under mTLS its own certificate for its name and site.
	Conn func(i int, probe *linkmeshv1.ProbeInfo) grpc.ClientConnInterface
	// Probes is how many synthetic probes report at once; Batch how many
	// results each report carries; Targets how many paths each probe has.
	Probes, Batch, Targets int
	// Results is how many results each probe reports in all.
	Results int
	// Name prefixes the probes' names (sites alternate sql and mi).
	Name string
}

// Outcome is what a run measured.
type Outcome struct {
	// Counted is the results the coordinator acknowledged as counted, summed
	// over the probes; Sent what was sent (replays of a refused batch
	// included).
	Counted, Sent uint64
	// Elapsed is from the first report to the last acknowledgement.
	Elapsed time.Duration
}

// Rate is the counted results per second.
func (o Outcome) Rate() float64 { return float64(o.Counted) / o.Elapsed.Seconds() }

// Run registers the probes, opens their plan streams, and reports until each
// has reported cfg.Results results and the coordinator acknowledged them all,
// or ctx ends.
func Run(ctx context.Context, cfg Config) (Outcome, error) {
	if cfg.Probes <= 0 || cfg.Batch <= 0 || cfg.Targets <= 0 || cfg.Results <= 0 {
		return Outcome{}, errors.New("loadgen: Probes, Batch, Targets and Results must be positive")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	probes := make([]*probe, cfg.Probes)
	var streams sync.WaitGroup
	defer streams.Wait()
	defer cancel()
	for i := range probes {
		p, err := register(ctx, cfg, i)
		if err != nil {
			return Outcome{}, err
		}
		probes[i] = p
		stream, err := p.api.WatchPlan(ctx, &linkmeshv1.WatchPlanRequest{Probe: p.info.GetName()})
		if err != nil {
			return Outcome{}, fmt.Errorf("plan stream of %s: %w", p.info.GetName(), err)
		}
		streams.Add(1)
		go func() { // drains the plan stream until the run ends
			defer streams.Done()
			for {
				if _, err := stream.Recv(); err != nil {
					return
				}
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(probes))
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.report(ctx)
		}()
	}
	wg.Wait()
	out := Outcome{Elapsed: time.Since(start)}
	for _, p := range probes {
		out.Counted += p.acked
		out.Sent += p.sent
	}
	return out, errors.Join(errs...)
}

// probe is one synthetic probe.
type probe struct {
	conn grpc.ClientConnInterface
	api  linkmeshv1.MeshServiceClient
	info *linkmeshv1.ProbeInfo
	// batches are the probe's reports, encoded, in order; last is the
	// sequence number of the last result they carry.
	batches     []encoded
	last        uint64
	sent, acked uint64
}

func register(ctx context.Context, cfg Config, i int) (*probe, error) {
	site, other := "sql", "mi"
	if i%2 == 1 {
		site, other = "mi", "sql"
	}
	info := &linkmeshv1.ProbeInfo{Name: fmt.Sprintf("%s-%s-%04d", cfg.Name, site, i), Site: site, Version: "loadgen",
		Os: "linux/amd64", Epoch: uint64(time.Now().UnixNano())}
	conn := cfg.Conn(i, info)
	api := linkmeshv1.NewMeshServiceClient(conn)
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: info}); err != nil {
		return nil, fmt.Errorf("register %s: %w", info.GetName(), err)
	}
	p := &probe{conn: conn, api: api, info: info}
	batch := make([]*linkmeshv1.Result, cfg.Batch)
	for j := range batch {
		t := j % cfg.Targets
		batch[j] = &linkmeshv1.Result{Kind: linkmeshv1.Kind_KIND_TCP, Target: fmt.Sprintf("%s-target-%04d", other, t),
			TargetSite: other, Host: "10.0.0.1", Port: 5022, Code: linkmeshv1.Code_CODE_OK, Rtt: durationpb.New(time.Millisecond),
			RttSource: linkmeshv1.RTTSource_RTT_SOURCE_KERNEL}
	}
	now := timestamppb.Now()
	for p.last < uint64(cfg.Results) {
		n := min(cfg.Batch, cfg.Results-int(p.last))
		for _, r := range batch[:n] {
			p.last++
			r.Seq, r.Time = p.last, now
		}
		b, err := proto.Marshal(&linkmeshv1.ReportRequest{Probe: info.GetName(), Epoch: info.GetEpoch(), Results: batch[:n]})
		if err != nil {
			return nil, fmt.Errorf("encode a batch of %s: %w", info.GetName(), err)
		}
		p.batches = append(p.batches, encoded{msg: b, results: n})
	}
	return p, nil
}

// report sends the batches in order, then empty reports until the
// coordinator acknowledged them all (with a state dir it acknowledges what its
// checkpoint holds, every second). A batch refused as too fast is sent again a
// little later.
func (p *probe) report(ctx context.Context) error {
	for _, b := range p.batches {
		if err := p.send(ctx, b); err != nil {
			return err
		}
	}
	empty, err := proto.Marshal(&linkmeshv1.ReportRequest{Probe: p.info.GetName(), Epoch: p.info.GetEpoch()})
	if err != nil {
		return fmt.Errorf("encode a report of %s: %w", p.info.GetName(), err)
	}
	for p.acked < p.last {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // the checkpoint's cadence is 1 s
		}
		if err := p.send(ctx, encoded{msg: empty}); err != nil {
			return err
		}
	}
	return nil
}

func (p *probe) send(ctx context.Context, b encoded) error {
	for {
		p.sent += uint64(b.results)
		resp := new(linkmeshv1.ReportResponse)
		err := p.conn.Invoke(ctx, linkmeshv1.MeshService_Report_FullMethodName, b, resp, grpc.ForceCodec(codec{}))
		if err == nil {
			p.acked = resp.GetAckedSeq()
			return nil
		}
		if status.Code(err) != codes.ResourceExhausted {
			return fmt.Errorf("report of %s: %w", p.info.GetName(), err)
		}
		select { // too fast: the coordinator's per-probe rate
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// encoded is a ReportRequest in its wire form, carrying results results.
type encoded struct {
	msg     []byte
	results int
}

// codec sends an encoded request as it is and decodes the answers as the
// proto codec does.
type codec struct{}

func (codec) Marshal(v any) ([]byte, error) {
	if e, ok := v.(encoded); ok {
		return e.msg, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("loadgen: cannot encode %T", v)
	}
	return proto.Marshal(m)
}

func (codec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("loadgen: cannot decode into %T", v)
	}
	return proto.Unmarshal(data, m)
}

// Name is the content subtype: the coordinator decodes with its proto codec.
func (codec) Name() string { return "proto" }
