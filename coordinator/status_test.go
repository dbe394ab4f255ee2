package coordinator

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func getStatus(t *testing.T, s *Server) Status {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr().String() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/v1/status: %s", resp.Status)
	}
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func findPath(st Status, id string) (StatusPath, bool) {
	for _, p := range st.Paths {
		if p.ID == id {
			return p, true
		}
	}
	return StatusPath{}, false
}

// TestStatusAPI: /api/v1/status over real gRPC reports: a planned path with
// no result is unknown, "no result yet"; then a sql → mi path whose latest
// attempt timed out is down with the network team's fix (the MI subnet's
// inbound rule), its docs/results.md section and its two attempts in the
// history; the mi → sql path is up with no fix; the probes carry the backlog
// they reported; a restarted probe's paths are unknown, saying so.
func TestStatusAPI(t *testing.T) {
	s := runServer(t, reportConfig, nil)
	api := dial(t, s.GRPCAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", nil)
	startProbe(t, s, api, "mi1", "mi", "127.0.0.1:5024", nil)

	const planned = "sql1→mi1:5024/tcp"
	var st Status
	// The path is planned when sql1 registers; sql1 reads up once the
	// coordinator has taken its plan stream, which can come a moment later.
	waitfor.Cond(t, 5*time.Second, "the planned path listed, its probes up", func() bool {
		st = getStatus(t, s)
		_, ok := findPath(st, planned)
		up := 0
		for _, p := range st.Probes {
			if p.Up {
				up++
			}
		}
		return ok && up == 2
	})
	if p, _ := findPath(st, planned); p.State != "unknown" || !strings.Contains(p.UnknownReason, "no result yet") || p.Role != "" {
		t.Errorf("planned path before any result: %+v", p)
	}

	now := time.Now()
	res := func(seq uint64, at time.Duration, target, site string, port uint32, code linkmeshv1.Code) *linkmeshv1.Result {
		r := &linkmeshv1.Result{Seq: seq, Time: timestamppb.New(now.Add(at)), Kind: linkmeshv1.Kind_KIND_TCP,
			Target: target, TargetSite: site, Port: port, Code: code, Detail: "test"}
		if code == linkmeshv1.Code_CODE_OK {
			r.Rtt = durationpb.New(3 * time.Millisecond)
		}
		return r
	}
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "sql1", Epoch: 1, Backlog: 7, Results: []*linkmeshv1.Result{
		res(1, -2*time.Second, "mi1", "mi", 5024, linkmeshv1.Code_CODE_OK),
		res(2, -time.Second, "mi1", "mi", 5024, linkmeshv1.Code_CODE_TIMEOUT),
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Report(ctx, &linkmeshv1.ReportRequest{Probe: "mi1", Epoch: 1, Results: []*linkmeshv1.Result{
		res(1, -time.Second, "sql1", "sql", 5022, linkmeshv1.Code_CODE_OK),
	}}); err != nil {
		t.Fatal(err)
	}
	st = getStatus(t, s)
	down, ok := findPath(st, planned)
	if !ok {
		t.Fatalf("no path %s in %+v", planned, st.Paths)
	}
	if down.State != "down" || down.LastResult != "timeout" || down.Direction != "sql → mi" || down.Role != "" {
		t.Errorf("down path: state %s result %s direction %s role %s", down.State, down.LastResult, down.Direction, down.Role)
	}
	if down.Fix == nil || down.Fix.For != "network team" || !strings.Contains(down.Fix.Summary, "gets no answer from mi1 TCP 5024") {
		t.Errorf("down path's fix: %+v", down.Fix)
	}
	if down.Doc != "timeout--packets-are-dropped" {
		t.Errorf("doc %q", down.Doc)
	}
	if len(down.History) != 2 || down.History[0].Result != "ok" || down.History[0].RTTMilli != 3 || down.History[1].Result != "timeout" {
		t.Errorf("history %+v", down.History)
	}
	if down.AgeSeconds == nil || *down.AgeSeconds < 0.5 {
		t.Errorf("age %v", down.AgeSeconds)
	}
	up, ok := findPath(st, "mi1→sql1:5022/tcp")
	if !ok || up.State != "up" || up.Direction != "mi → sql" || up.Role != "p3" || up.Fix != nil {
		t.Errorf("up path: %+v", up)
	}
	if st.Rounds == nil {
		t.Error("rounds is null, want [] (the page reads its length)")
	}
	if st.Summary.Up != 1 || st.Summary.Down != 1 {
		t.Errorf("summary %+v", st.Summary)
	}
	var sawBacklog bool
	for _, p := range st.Probes {
		if p.Name == "sql1" {
			sawBacklog = p.Backlog == 7 && p.Up && p.LastReport != nil
		}
	}
	if !sawBacklog {
		t.Errorf("probe sql1 without its backlog 7, up and last report: %+v", st.Probes)
	}

	// sql1 restarts (a new epoch): what it measured says nothing any more.
	if _, err := api.Register(ctx, &linkmeshv1.RegisterRequest{Probe: &linkmeshv1.ProbeInfo{Name: "sql1", Site: "sql", Epoch: 2, ResponderAddress: "127.0.0.1:5023"}}); err != nil {
		t.Fatal(err)
	}
	st = getStatus(t, s)
	if p, _ := findPath(st, planned); p.State != "unknown" || !strings.Contains(p.UnknownReason, "restarted") {
		t.Errorf("after sql1 restarted: state %s, reason %q", p.State, p.UnknownReason)
	}
}

// TestStatusPage: / serves the page with a policy that lets it load only its
// own assets and talk only to its coordinator, and no asset names another
// host.
func TestStatusPage(t *testing.T) {
	s := runServer(t, baseConfig, nil)
	base := "http://" + s.HTTPAddr().String()
	abs := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]`)
	for _, path := range []string{"/", "/ui/status.js", "/ui/status.css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if m := abs.Find(body); m != nil {
			t.Errorf("%s names another host: %q", path, m)
		}
		if path == "/" && !strings.Contains(string(body), `src="/ui/status.js"`) {
			t.Errorf("/ does not load the script:\n%s", body)
		}
	}
}

// TestStatusIdleRules: a rule of the policy that makes no path — its sites'
// probes never registered — is listed with which end is missing, so a mesh
// with one side absent cannot read up.
func TestStatusIdleRules(t *testing.T) {
	s := runServer(t, baseConfig+"  - {name: mi-back, from: {site: mi}, to: {site: sql}}\n", nil)
	api := dial(t, s.GRPCAddr().String())
	startProbe(t, s, api, "sql1", "sql", "127.0.0.1:5023", nil)
	st := getStatus(t, s)
	why := map[string]string{}
	for _, r := range st.Idle {
		why[r.Rule] = r.Why
	}
	if !strings.Contains(why["mi-back"], "no registered probe of site mi") {
		t.Errorf("mi-back: %q, want no registered probe of site mi (idle: %+v)", why["mi-back"], st.Idle)
	}
	if !strings.Contains(why["sql->mi/tcp"], "no target matches it") {
		t.Errorf("sql->mi/tcp (no mi probe): %q, want no target (idle: %+v)", why["sql->mi/tcp"], st.Idle)
	}
	startProbe(t, s, api, "mi1", "mi", "127.0.0.2:5023", nil)
	if st := getStatus(t, s); len(st.Idle) != 0 {
		t.Errorf("with both probes: idle rules %+v, want none", st.Idle)
	}
}
