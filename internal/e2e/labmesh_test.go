//go:build linux

package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/meshkey"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// Ports used in the lab mesh.
const (
	labGRPC      = 7022
	labHTTP      = 9022
	labResponder = 5023
	labEndpoint  = 5022 // a plain listener standing in for a mirroring endpoint
)

// labMesh is a linkmesh mesh in a lab: the coordinator runs in the router
// namespace (so path faults in FORWARD never touch reports), a probe in sql and
// one in mi, and plain listeners on 5022 in both.
type labMesh struct {
	lab    *netlab.Lab
	client *http.Client // dials from the router namespace
	base   string       // http://<router>:9022
	bin    string
	dir    string
	key    string               // the mesh key file every process gets
	probes map[string]*exec.Cmd // by site
	// coord is the coordinator's process and coordArgs its arguments (to
	// start it again).
	coord     *labProc
	coordArgs []string
}

// newLabMesh starts the mesh with the given path policy (YAML, without listen:)
// and plain listeners on 5022 and listenPorts in sql and mi, and waits until
// the coordinator is ready.
func newLabMesh(t *testing.T, lab *netlab.Lab, policy string, listenPorts ...int) *labMesh {
	t.Helper()
	for _, h := range []*netlab.Host{lab.SQL(), lab.MI()} {
		for _, p := range append([]int{labEndpoint}, listenPorts...) {
			serveAndClose(t, h, p)
		}
	}
	return startLabMesh(t, lab, policy, nil)
}

// startLabMesh starts the coordinator (in the router) and the probes sql1 and
// mi1, each with its extra arguments from probeArgs (by site), and opens no
// listener of its own.
func startLabMesh(t *testing.T, lab *netlab.Lab, policy string, probeArgs map[string][]string) *labMesh {
	t.Helper()
	return startLabMeshSites(t, lab, policy, probeArgs, "sql", "mi")
}

// startLabMeshSites is startLabMesh with probes in the given sites only.
func startLabMeshSites(t *testing.T, lab *netlab.Lab, policy string, probeArgs map[string][]string, sites ...string) *labMesh {
	t.Helper()
	bin := netlab.BuildLinkmesh(t)
	router, sql := lab.Router(), lab.SQL()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "coordinator.yaml")
	// One mesh key for all: it encrypts gossip and authenticates echo hellos.
	keyFile := writeMeshKey(t, dir)
	cfg := fmt.Sprintf("name: lab\nlisten: {grpc: \":%d\", http: \":%d\"}\nmesh_key_file: %s\n%s", labGRPC, labHTTP, keyFile, policy)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &labMesh{
		lab:  lab,
		base: fmt.Sprintf("http://%s", net.JoinHostPort(router.AddrToward(sql).String(), fmt.Sprint(labHTTP))),
		client: &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				DialContext:       router.DialContext,
				DisableKeepAlives: true,
			},
		},
	}
	m.coordArgs = []string{"coordinator", "--config", cfgFile, "--insecure", "--log-level", "debug"}
	m.coord = startLabProc(t, router, "coordinator", bin, m.coordArgs...)
	m.waitReady(t)
	m.bin, m.dir, m.key = bin, dir, keyFile
	m.probes = map[string]*exec.Cmd{}
	for _, site := range sites {
		m.startProbe(t, site, probeArgs[site]...)
	}
	return m
}

// writeMeshKey writes a new mesh key to dir/mesh.key and returns the path.
func writeMeshKey(t *testing.T, dir string) string {
	t.Helper()
	key, err := meshkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "mesh.key")
	if err := meshkey.Write(keyFile, key); err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// startProbe starts the probe of a site ("sql" or "mi"), named site+"1", with a
// plan cache in the test's directory and extra arguments.
func (m *labMesh) startProbe(t *testing.T, site string, extra ...string) *exec.Cmd {
	t.Helper()
	h := m.lab.Host(site)
	coord := net.JoinHostPort(m.lab.Router().AddrToward(h).String(), fmt.Sprint(labGRPC))
	args := append([]string{"probe", "--name", site + "1", "--site", site,
		"--coordinator", coord, "--responder", fmt.Sprintf(":%d", labResponder), "--insecure", "--log-level", "debug",
		"--plan-cache", filepath.Join(m.dir, site+"-plan.pb"), "--mesh-key-file", m.key}, extra...)
	cmd := startProcess(t, h, site+"-probe", m.bin, args...)
	m.probes[site] = cmd
	return cmd
}

func (m *labMesh) waitReady(t *testing.T) {
	t.Helper()
	waitHTTPOK(t, m.client, m.base+"/readyz", 15*time.Second, "the coordinator")
}

// metricsURL is the coordinator's /metrics.
func (m *labMesh) metricsURL() string { return m.base + "/metrics" }

// wait scrapes until cond holds; see waitMetrics.
func (m *labMesh) wait(t *testing.T, timeout time.Duration, what string, cond func(series) bool) (series, time.Duration) {
	t.Helper()
	return waitMetricsWith(t, m.client, m.metricsURL(), timeout, what, cond)
}

func (m *labMesh) scrape(t *testing.T) series {
	t.Helper()
	s, err := scrapeWith(m.client, m.metricsURL())
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return s
}

// apiPath is one path of /api/v1/paths (the fields the lab reads).
type apiPath struct {
	Source     string `json:"source"`
	Target     string `json:"target"`
	Port       int    `json:"port"`
	Kind       string `json:"kind"`
	State      string `json:"state"`
	LastDetail string `json:"last_detail"`
	Window     *struct {
		Attempts       int     `json:"attempts"`
		OK             int     `json:"ok"`
		SYNRetransmits int     `json:"syn_retransmits"`
		LossRatio      float64 `json:"loss_ratio"`
		P50            float64 `json:"rtt_p50_ms"`
		P99            float64 `json:"rtt_p99_ms"`
	} `json:"window"`
}

// paths reads /api/v1/paths with the given window.
func (m *labMesh) paths(window time.Duration) ([]apiPath, error) {
	resp, err := m.client.Get(fmt.Sprintf("%s/api/v1/paths?window=%s", m.base, window))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Paths []apiPath `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Paths, nil
}

// serveAndClose listens on port inside h and holds every connection until the
// client closes it, then closes it too, like a healthy endpoint (see holdConns).
func serveAndClose(t *testing.T, h *netlab.Host, port int) {
	t.Helper()
	lis, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("listen on %s:%d: %v", h.Name(), port, err)
	}
	t.Cleanup(holdConns(lis))
}

// startProcess starts bin inside h with its output in a log file, stops it at
// cleanup and prints the log's tail when the test failed (see startLabProc).
func startProcess(t *testing.T, h *netlab.Host, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	return startLabProc(t, h, name, bin, args...).cmd
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// pathLabels are the labels that pick one path out of the series (add "kind"
// when a mesh measures the same port with several kinds).
func pathLabels(src, dst string, port int) []string {
	return []string{"source", src, "target", dst, "port", fmt.Sprint(port)}
}

// tcpLabels pick the tcp path: upValue, failures and resultCount read tcp
// paths, so echo paths on the same responder port never blur them.
func tcpLabels(src, dst string, port int) []string {
	return append(pathLabels(src, dst, port), "kind", "tcp")
}

func upValue(s series, src, dst string, port int) (float64, bool) {
	return s.one("linkmesh_path_up", tcpLabels(src, dst, port)...)
}

// failures sums a tcp path's attempts whose result is not ok.
func failures(s series, src, dst string, port int) float64 {
	var sum float64
	for k, v := range s.find("linkmesh_path_probes_total", tcpLabels(src, dst, port)...) {
		if !strings.Contains(k, `result="ok"`) {
			sum += v
		}
	}
	return sum
}

func resultCount(s series, src, dst string, port int, result string) float64 {
	v, _ := s.one("linkmesh_path_probes_total", append(tcpLabels(src, dst, port), "result", result)...)
	return v
}

// report appends lines to $LINKMESH_LAB_REPORT when set, for docs/benchmarks.md.
func report(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		t.Log(l)
	}
	path := os.Getenv("LINKMESH_LAB_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("report: %v", err)
		return
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

var errNotYet = errors.New("not yet")

// pollPaths reads /api/v1/paths until f accepts it or timeout passes.
func (m *labMesh) pollPaths(t *testing.T, timeout time.Duration, window func() time.Duration, f func([]apiPath) error) {
	t.Helper()
	var last error
	if !waitfor.PollEvery(timeout, 200*time.Millisecond, func() bool {
		ps, err := m.paths(window())
		if err == nil {
			err = f(ps)
		}
		last = err
		return err == nil
	}) {
		t.Fatalf("after %v: %v", timeout, last)
	}
}
