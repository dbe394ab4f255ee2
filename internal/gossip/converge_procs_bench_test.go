package gossip

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// childEnv, when set, makes the test binary a member host for
// BenchmarkConvergenceProcesses: "profile,members,index" (see runMemberHost).
const childEnv = "LINKMESH_GOSSIP_BENCH_HOST"

// TestMain runs the test binary as a member host when childEnv says so, else
// the tests and benchmarks as usual.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runMemberHost(spec, os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// hostLimit bounds a member host's life whatever its parent does.
const hostLimit = 10 * time.Minute

// runMemberHost starts members members on loopback (profile, the mesh key),
// prints "ready ADDR" (its first member's gossip address), waits for "join
// SEED" on in, joins every member to SEED (the first host's first member) and
// runs them, printing "alive MIN" — the fewest members any of its members
// sees alive — every 250 ms, until in closes or hostLimit passes. It returns
// the process's exit code.
func runMemberHost(spec string, in io.Reader, out io.Writer) int {
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want profile,members,index\n", childEnv, spec)
		return 2
	}
	profile := parts[0]
	count, err1 := strconv.Atoi(parts[1])
	index, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || count < 1 {
		fmt.Fprintf(os.Stderr, "%s=%q: members and index must be numbers\n", childEnv, spec)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes := make([]*Node, 0, count)
	for i := range count {
		node, err := Start(Config{
			Meta:    Meta{Role: RoleProbe, Name: fmt.Sprintf("h%d-p%d", index, i), Site: "site-" + strconv.Itoa(i%2), Responder: "127.0.0.1:5023", Version: "bench"},
			Bind:    "127.0.0.1:0",
			Key:     testKey(9),
			Profile: profile,
			Logger:  logger,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		nodes = append(nodes, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostLimit)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The reader ends when in closes (the parent is done, or gone) and then
	// ends the members; it is not waited for, as a read cannot be cancelled:
	// after hostLimit the process exits without it.
	lines := make(chan string)
	go func() {
		defer cancel()
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	fmt.Fprintln(out, "ready", nodes[0].Addr())
	var seed string
	select {
	case line := <-lines:
		var ok bool
		if seed, ok = strings.CutPrefix(line, "join "); !ok {
			fmt.Fprintf(os.Stderr, "want join SEED, got %q\n", line)
			return 2
		}
	case <-ctx.Done():
		return 1
	}
	// Report from the first join on: under load the joins themselves take
	// long, and a host that said nothing would read as one that saw nobody.
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				least := count * 1000
				for _, node := range nodes {
					least = min(least, node.NumAlive())
				}
				fmt.Fprintln(out, "alive", least)
			}
		}
	})
	for _, node := range nodes {
		if node.Addr() == seed || ctx.Err() != nil {
			continue
		}
		if _, err := node.ml.Join([]string{seed}); err != nil {
			fmt.Fprintln(os.Stderr, "join:", err)
		}
	}
	for _, node := range nodes {
		wg.Go(func() { _ = node.Run(ctx) })
	}
	<-ctx.Done()
	return 0
}

// memberHost is a running member host process.
type memberHost struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan string // its first member's address, once
	mu    sync.Mutex
	alive int // the latest "alive" figure (-1 before the first)
	done  chan struct{}
}

func startMemberHost(b *testing.B, profile string, members, index int) *memberHost {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d,%d", childEnv, profile, members, index))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &memberHost{cmd: cmd, stdin: stdin, ready: make(chan string, 1), alive: -1, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			word, rest, _ := strings.Cut(sc.Text(), " ")
			switch word {
			case "ready":
				h.ready <- rest
			case "alive":
				if n, err := strconv.Atoi(rest); err == nil {
					h.mu.Lock()
					h.alive = n
					h.mu.Unlock()
				}
			}
		}
	}()
	return h
}

func (h *memberHost) latest() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.alive
}

// stop closes the host's input (it shuts its members down and exits), waits
// for it a while, kills it (its own pid) if it lingers, and returns the CPU
// time it used.
func (h *memberHost) stop() time.Duration {
	h.stdin.Close()
	exited := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-exited
	}
	<-h.done
	if st := h.cmd.ProcessState; st != nil {
		return st.UserTime() + st.SystemTime()
	}
	return 0
}

// holdFor is how long BenchmarkConvergenceProcesses watches a converged
// cluster for members wrongly declared dead.
const holdFor = 60 * time.Second

// BenchmarkConvergenceProcesses is 500 members with the mesh key in 5
// processes of 100 (each process a host of the cluster, as real members are
// on their own hosts; on the project's 2 cores all five still share two
// CPUs), on the wan profile (the default) and on lan. It reports the time
// until every member sees 500 alive (s/converge, -1 if not within 2
// minutes); then, over a further minute of the converged cluster, the fewest
// members any member saw alive (min-alive: below 500 means a live member
// was declared dead — a flap) and the share of quarter-second reports in
// which some member saw fewer than 500 (flap-%); and the CPU the five
// processes used from their start to their exit, in cores (cores).
//
//	go test -run '^$' -bench ConvergenceProcesses -benchtime 1x -count 2 -timeout 30m ./internal/gossip/
func BenchmarkConvergenceProcesses(b *testing.B) {
	for _, profile := range []string{"wan", "lan"} {
		b.Run(fmt.Sprintf("linkmesh-%s-key/n=500/procs=5", profile), func(b *testing.B) {
			for range b.N {
				benchProcesses(b, profile, 5, 100)
			}
		})
	}
}

func benchProcesses(b *testing.B, profile string, procs, each int) {
	n := procs * each
	hosts := make([]*memberHost, 0, procs)
	defer func() {
		for _, h := range hosts {
			h.stop()
		}
	}()
	var seed string
	launched := time.Now()
	for i := range procs {
		h := startMemberHost(b, profile, each, i)
		hosts = append(hosts, h)
		select {
		case addr := <-h.ready:
			if i == 0 {
				seed = addr
			}
		case <-h.done:
			b.Fatalf("member host %d exited before starting its members (its error is above)", i)
		case <-time.After(time.Minute):
			b.Fatalf("member host %d did not start its members within a minute", i)
		}
	}
	start := time.Now()
	for _, h := range hosts {
		fmt.Fprintln(h.stdin, "join", seed)
	}
	least := func() int {
		m := n
		for _, h := range hosts {
			m = min(m, h.latest())
		}
		return m
	}
	if !waitfor.Poll(convergeLimit, func() bool { return least() == n }) {
		b.Logf("%s: did not converge within %v (fewest alive seen by a member: %d of %d)", profile, convergeLimit, least(), n)
		b.ReportMetric(-1, "s/converge")
	} else {
		b.ReportMetric(time.Since(start).Seconds(), "s/converge")
		// Watch the converged cluster: every report below n is a live member
		// some member holds dead (every member is alive throughout).
		minAlive, below, reports := n, 0, 0
		tick := time.NewTicker(250 * time.Millisecond)
		for end := time.Now().Add(holdFor); time.Now().Before(end); <-tick.C {
			m := least()
			minAlive = min(minAlive, m)
			reports++
			if m < n {
				below++
			}
		}
		tick.Stop()
		b.ReportMetric(float64(minAlive), "min-alive")
		b.ReportMetric(100*float64(below)/float64(reports), "flap-%")
	}
	var cpu time.Duration
	for _, h := range hosts {
		cpu += h.stop()
	}
	hosts = nil
	b.ReportMetric(cpu.Seconds()/time.Since(launched).Seconds(), "cores")
}
