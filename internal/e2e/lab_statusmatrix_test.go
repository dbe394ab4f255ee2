//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/linkmesh/linkmesh/coordinator"
	"github.com/linkmesh/linkmesh/coordinator/config"
	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
	"github.com/linkmesh/linkmesh/probe"
	"google.golang.org/grpc/credentials/insecure"
)

// TestLabStatusMatrix50: the status page's source × target matrix stays
// readable at 50 × 50. A real coordinator and 50 real probes (25 sql, 25 mi,
// in this process on loopback, measuring every probe of the other site: 1,250
// paths) are drawn by headless Chromium at 1400 × 1100: 50 rows and 50
// columns, every measured cell up, the cells at least 14 px wide, and the
// matrix no wider than the window.
//
// It runs with the lab tests (it needs CI's Chromium, and .ci/run checks it
// ran); with LINKMESH_STATUS_MATRIX_SCREENSHOT=FILE it saves the matrix.
func TestLabStatusMatrix50(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("no Chromium: apt-get install chromium (.ci/run does)")
	}
	netlab.MarkRan(t)
	cfg, err := config.Parse("matrix.yaml", []byte(`
listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0"}
gossip: {disabled: true}
defaults: {interval: 2s, timeout: 1s}
responder_cidrs: [127.0.0.0/8]
paths:
  - {from: {site: sql}, to: {site: mi}}
  - {from: {site: mi}, to: {site: sql}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := testLogger(t)
	coord, err := coordinator.New(cfg, coordinator.Options{Insecure: true}, logger.With("component", "coordinator"))
	if err != nil {
		t.Fatal(err)
	}
	const perSite = 25
	done := make(chan error, 1+2*perSite)
	go func() { done <- coord.Run(ctx) }()
	for i := range 2 * perSite {
		site := "sql"
		if i%2 == 1 {
			site = "mi"
		}
		a, err := probe.New(probe.Config{
			Name: fmt.Sprintf("%s%02d", site, i/2+1), Site: site,
			Coordinators: []string{coord.GRPCAddr().String()},
			Creds:        insecure.NewCredentials(),
			Responder:    "127.0.0.1:0",
			BufferSize:   1000,
		}, logger.With("probe", i))
		if err != nil {
			t.Fatal(err)
		}
		go func() { done <- a.Run(ctx) }()
	}
	t.Cleanup(func() { stopComponents(t, cancel, done, 1+2*perSite) })

	base := "http://" + coord.HTTPAddr().String()
	const paths = 2 * perSite * perSite
	waitfor.Cond(t, 90*time.Second, fmt.Sprintf("%d paths up", paths), func() bool {
		resp, err := http.Get(base + "/api/v1/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st coordinator.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Summary.Up == paths
	})

	bctx, cancelBrowser := newBrowser(t, 1400, 1100)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	type matrixShape struct {
		Rows, Cols, Up, Other int
		CellWidth, TableWidth float64
		Window                float64
	}
	const shapeJS = `(() => {
  const t = document.querySelector('table.matrix');
  if (!t) return {Rows: 0, Cols: 0, Up: 0, Other: 0, CellWidth: 0, TableWidth: 0, Window: window.innerWidth};
  const cells = [...t.querySelectorAll('tbody td')];
  const filled = cells.filter(c => c.dataset.cellState);
  return {Rows: t.querySelectorAll('tbody tr').length, Cols: t.querySelectorAll('thead th.col').length,
    Up: filled.filter(c => c.dataset.cellState === 'up').length, Other: filled.filter(c => c.dataset.cellState !== 'up').length,
    CellWidth: Math.min(...cells.map(c => c.getBoundingClientRect().width)),
    TableWidth: t.getBoundingClientRect().width, Window: window.innerWidth};
})()`
	var shape matrixShape
	waitfor.Cond(t, 30*time.Second, "the 50 × 50 matrix drawn", func() bool {
		shape, err = chromedp.Run(bctx, chromedp.Evaluate[matrixShape](shapeJS))
		return err == nil && shape.Rows == 2*perSite && shape.Cols == 2*perSite && shape.Up == paths
	})
	report(t, "", fmt.Sprintf("status page matrix at 50 × 50 (1,250 paths, 1400 px window): cells %.0f px wide, matrix %.0f px of %.0f", shape.CellWidth, shape.TableWidth, shape.Window))
	if shape.Other != 0 {
		t.Errorf("%d measured cells not up", shape.Other)
	}
	if shape.CellWidth < 14 {
		t.Errorf("cells %.1f px wide, want at least 14 (readable)", shape.CellWidth)
	}
	if shape.TableWidth > shape.Window {
		t.Errorf("the matrix is %.0f px wide in a %.0f px window", shape.TableWidth, shape.Window)
	}
	if file := os.Getenv("LINKMESH_STATUS_MATRIX_SCREENSHOT"); file != "" {
		png, err := chromedp.Run(bctx, chromedp.Screenshot("#matrix-s"))
		if err == nil {
			err = os.WriteFile(file, png, 0o644)
		}
		if err != nil {
			t.Errorf("screenshot: %v", err)
		}
	}
}

// newBrowser starts headless Chromium with a window of w × h and returns its
// chromedp context; the browser ends with cancel.
func newBrowser(t *testing.T, w, h int) (context.Context, context.CancelFunc) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	return bctx, func() { cancelBrowser(); cancelAlloc() }
}
