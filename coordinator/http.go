package coordinator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/linkmesh/linkmesh/coordinator/exporter"
	"github.com/linkmesh/linkmesh/coordinator/pathstate"
	"github.com/linkmesh/linkmesh/coordinator/statuspage"
	"github.com/linkmesh/linkmesh/internal/explain"
	"github.com/linkmesh/linkmesh/internal/seeding"
	"github.com/linkmesh/linkmesh/proto/vocab"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Bounds on the HTTP port's concurrent work. A scrape or an /api/v1/paths
// answer holds a copy of the whole state while it is written; unbounded
// parallel requests multiply that (16 parallel scrapes took the RSS from 85 to
// 347 MB). Over a bound the answer is 503 at once, with Retry-After.
const (
	// maxScrapesInFlight bounds concurrent /metrics scrapes (promhttp counts
	// the 503s in promhttp_metric_handler_requests_total{code="503"}).
	maxScrapesInFlight = 4
	// maxAPIInFlight bounds concurrent /api/v1/paths and /api/v1/status
	// requests together (refusals are
	// counted in linkmesh_coordinator_api_requests_refused_total).
	maxAPIInFlight = 2
)

// initHTTP builds the HTTP server, its bounds and their metrics. The web
// config (TLS, basic auth) is applied by serveHTTP.
func (s *Server) initHTTP(logger *slog.Logger, webConfigFile string) {
	s.webConfigFile = webConfigFile
	s.apiSlots = make(chan struct{}, maxAPIInFlight)
	s.apiRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "linkmesh_coordinator_api_requests_refused_total",
		Help: "Requests to /api/v1/paths or /api/v1/status answered 503 (with Retry-After) because " + strconv.Itoa(maxAPIInFlight) + " were already being answered.",
	})
	s.reg.MustRegister(s.apiRefused)
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveHTTP serves the HTTP port until the server is shut down, with TLS and
// basic auth as the web config file says (exporter-toolkit re-reads it on
// every request and TLS handshake; without one, plain HTTP).
func (s *Server) serveHTTP() error {
	file := s.webConfigFile
	err := web.Serve(s.httpLis, s.http, &web.FlagConfig{WebConfigFile: &file}, s.logger.With("component", "http"))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(s.reg, exporter.Handler(s.paths, s.reg, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{s},
		MaxRequestsInFlight: maxScrapesInFlight,
		Timeout:             30 * time.Second,
		EnableOpenMetrics:   true,
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /api/v1/paths", s.handlePaths)
	mux.HandleFunc("GET /api/v1/status", s.handleStatus)
	statuspage.Register(mux)
	return mux
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.logger.Error("metrics handler", "error", v) }

// PathStatus is one path in the /api/v1/paths answer.
type PathStatus struct {
	Source       string            `json:"source"`
	SourceSite   string            `json:"source_site"`
	Target       string            `json:"target"`
	TargetSite   string            `json:"target_site"`
	Port         uint32            `json:"port"`
	PortEnd      uint32            `json:"port_end,omitempty"`
	Kind         string            `json:"kind"`
	State        string            `json:"state"` // up, down or unknown
	LastResult   string            `json:"last_result"`
	LastTime     time.Time         `json:"last_time"`
	LastRTTMilli float64           `json:"last_rtt_ms,omitempty"` // the latest attempt's RTT; absent when it measured none (a timeout), never an older attempt's
	LastDetail   string            `json:"last_detail"`
	LastSuccess  *time.Time        `json:"last_success,omitempty"`
	Results      map[string]uint64 `json:"results"`
	// LastExplanation says what LastResult means (internal/explain: the
	// sentence `linkmesh check` prints), beside LastDetail, the probe's own
	// words about the attempt (often the operating system's error).
	LastExplanation string `json:"last_explanation"`
	// LastSuccessRTTMilli is the RTT of the attempt at LastSuccess.
	LastSuccessRTTMilli float64 `json:"last_success_rtt_ms,omitempty"`
	// MTUBytes and MTUBlackhole are the latest path-MTU check (echo; absent
	// before the first).
	MTUBytes     uint32 `json:"mtu_bytes,omitempty"`
	MTUBlackhole *bool  `json:"mtu_blackhole,omitempty"`
	// ThroughputBPS is the latest burst's throughput (echo; absent before the
	// first), and Seeding100GB what it means for seeding 100 GB.
	ThroughputBPS float64 `json:"throughput_bps,omitempty"`
	Seeding100GB  string  `json:"seeding_100gb,omitempty"`
	// Addresses are what the latest dns attempt resolved the name to.
	Addresses []string `json:"addresses,omitempty"`
	// Window summarises the attempts of the last `window` (default 5m, at most
	// the last 256 attempts).
	Window *WindowStatus `json:"window,omitempty"`
}

// WindowStatus is pathstate.Stats in milliseconds, for JSON.
type WindowStatus struct {
	Attempts       int     `json:"attempts"`
	OK             int     `json:"ok"`
	SYNRetransmits int     `json:"syn_retransmits"`
	LossRatio      float64 `json:"loss_ratio"`
	RTTMinMilli    float64 `json:"rtt_min_ms"`
	RTTP50Milli    float64 `json:"rtt_p50_ms"`
	RTTP90Milli    float64 `json:"rtt_p90_ms"`
	RTTP99Milli    float64 `json:"rtt_p99_ms"`
	RTTMaxMilli    float64 `json:"rtt_max_ms"`
	JitterMilli    float64 `json:"jitter_ms"`
	// Failed and FailureRatio count the attempts that failed by the rule of
	// the path's state (a refusal on a range with refused_ok is no failure):
	// linkmesh_path_failure_ratio, apart from the packet loss of LossRatio.
	Failed       int     `json:"failed"`
	FailureRatio float64 `json:"failure_ratio"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Paths returns every path's status, judged now, with statistics over the
// attempts of the last window; the demo and /api/v1/paths use it.
func (s *Server) Paths(window time.Duration) []PathStatus {
	view := s.store.View(s.StaleAfter(), window)
	out := make([]PathStatus, 0, len(view.Paths))
	for i := range view.Paths {
		out = append(out, pathStatus(&view, &view.Paths[i]))
	}
	return out
}

// pathStatus is one path of a View, judged as of the View.
func pathStatus(view *pathstate.View, p *pathstate.Path) PathStatus {
	snap, stats, fails := &view.Snapshot, view.Stats, view.Failures
	ps := PathStatus{
		Source: p.Source, SourceSite: p.SourceSite, Target: p.Target, TargetSite: p.TargetSite,
		Port: p.Port, PortEnd: p.PortEnd, Kind: vocab.KindName(p.Kind), LastResult: vocab.CodeName(p.Last),
		LastTime: p.LastTime, LastRTTMilli: ms(p.LastRTT), LastDetail: p.LastDetail,
		LastExplanation: explain.Result(p.Last), Results: map[string]uint64{},
	}
	switch {
	case !snap.Known(p):
		ps.State = "unknown"
	case p.Up():
		ps.State = "up"
	default:
		ps.State = "down"
	}
	if !p.LastSuccess.IsZero() {
		t := p.LastSuccess
		ps.LastSuccess = &t
		ps.LastSuccessRTTMilli = ms(p.LastSuccessRTT)
	}
	if !p.MTUTime.IsZero() {
		hole := p.MTUBlackhole
		ps.MTUBytes, ps.MTUBlackhole = p.MTU, &hole
	}
	if !p.ThroughputTime.IsZero() {
		ps.ThroughputBPS = p.Throughput
		ps.Seeding100GB = seeding.Describe(100*seeding.GB, p.Throughput)
	}
	ps.Addresses = p.Addresses
	if st, ok := stats[p.Key]; ok {
		ps.Window = &WindowStatus{
			Attempts: st.Attempts, OK: st.OK, SYNRetransmits: st.SYNRetransmits, LossRatio: st.LossRatio,
			RTTMinMilli: ms(st.RTTMin), RTTP50Milli: ms(st.RTTP50), RTTP90Milli: ms(st.RTTP90),
			RTTP99Milli: ms(st.RTTP99), RTTMaxMilli: ms(st.RTTMax), JitterMilli: ms(st.Jitter),
		}
		f := fails[p.Key]
		ps.Window.Failed, ps.Window.FailureRatio = f.Failed, f.Ratio()
	}
	for _, code := range vocab.Codes {
		if n := p.Counts[code]; n > 0 {
			ps.Results[vocab.CodeName(code)] = n
		}
	}
	return ps
}

// StandInStatus is one probe's stand-in endpoint in the /api/v1/paths answer.
type StandInStatus struct {
	Probe  string `json:"probe"`
	Port   uint32 `json:"port"`
	State  string `json:"state"` // serving, port_taken, failed, ended
	Detail string `json:"detail"`
}

// StandIns returns every stand-in the probes report, by probe and port.
func (s *Server) StandIns() []StandInStatus {
	out := []StandInStatus{}
	for _, p := range s.store.Snapshot(s.StaleAfter()).Probes {
		for _, st := range p.StandIns {
			out = append(out, StandInStatus{
				Probe: p.Info.GetName(), Port: st.GetPort(), Detail: st.GetDetail(),
				State: strings.ToLower(strings.TrimPrefix(st.GetState().String(), "STAND_IN_STATE_")),
			})
		}
	}
	return out
}

func (s *Server) handlePaths(w http.ResponseWriter, r *http.Request) {
	window, release, ok := s.apiRequest(w, r)
	if !ok {
		return
	}
	defer release()
	if s.pathsHook != nil {
		s.pathsHook()
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(map[string]any{"window": window.String(), "paths": s.Paths(window), "stand_ins": s.StandIns()}); err != nil {
		s.logger.Warn("write /api/v1/paths", "error", err)
	}
}
