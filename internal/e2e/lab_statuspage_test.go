//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/linkmesh/linkmesh/internal/netlab"
)

// chromiumPath is Debian's Chromium (apt-get install chromium; .ci/run does).
const chromiumPath = "/usr/bin/chromium"

// pageState is what the status page shows of one path.
type pageState struct {
	State  string `json:"state"`
	Result string `json:"result"`
}

// readPathsJS reads every path element's data-path-id, data-path-state and
// result text from the page.
const readPathsJS = `Object.fromEntries([...document.querySelectorAll('[data-path-id]')].map(e =>
  [e.dataset.pathId, {state: e.dataset.pathState, result: (e.querySelector('.result') || {}).textContent || ''}]))`

// TestLabStatusPage drives headless Chromium against the status page of a
// real coordinator with real probes in the lab:
//   - every path is up on the page;
//   - packets dropped sql → mi on 5022 turn exactly sql1→mi1:5022 down with
//     result timeout and the one-direction warning, while mi1→sql1:5022
//     stays up; the repair brings it back;
//   - a killed probe turns its paths unknown, never down;
//   - a coordinator restart shows "not answering", then the page recovers;
//   - the page made no request to any other host than its coordinator, and
//     at phone width it does not overflow sideways.
//
// With LINKMESH_STATUS_SCREENSHOT=FILE it saves a screenshot of the page
// with one direction down (docs/img/status.png is one).
func TestLabStatusPage(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skip("no Chromium: apt-get install chromium (.ci/run does)")
	}
	lab := netlab.New(t)
	m := newLabMesh(t, lab, labPolicy)
	base := forwardToLab(t, lab.Router(), strings.TrimPrefix(m.base, "http://"))

	bctx, cancelBrowser := newBrowser(t, 1400, 1100)
	defer cancelBrowser()
	var mu sync.Mutex
	var requests []string
	// Every request the page makes (chromedp enables the network domain).
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}

	read := func() map[string]pageState {
		got, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]pageState](readPathsJS))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return got
	}
	text := func(js string) string {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return s
	}
	const bannerJS = `document.getElementById('conn').hidden ? '' : document.getElementById('conn').textContent`
	// waitPage polls the page until cond holds; it returns how long it took.
	// seen, if given, sees every reading on the way.
	waitPage := func(what string, timeout time.Duration, cond func(map[string]pageState) bool, seen func(map[string]pageState)) time.Duration {
		t.Helper()
		start := time.Now()
		var last map[string]pageState
		for time.Since(start) < timeout {
			last = read()
			if seen != nil {
				seen(last)
			}
			if cond(last) {
				return time.Since(start)
			}
			time.Sleep(250 * time.Millisecond) // the page redraws every 5 s; a poll, with a deadline
		}
		t.Fatalf("%s: not within %v; the page shows %v", what, timeout, last)
		return 0
	}
	ids := map[labPath]string{}
	for _, p := range labPaths {
		ids[p] = fmt.Sprintf("%s→%s:%d/tcp", p.src, p.dst, p.port)
	}
	allUp := func(s map[string]pageState) bool {
		for _, id := range ids {
			if s[id].State != "up" {
				return false
			}
		}
		return true
	}
	took := waitPage("every path up on the page", 40*time.Second, allUp, nil)
	if b := text(bannerJS); b != "" {
		t.Errorf("with everything up, the page shows the banner %q", b)
	}
	drawn := func() {
		t.Helper()
		if e := text(`String(drawError)`); e != "null" {
			t.Errorf("the page could not draw an answer: %s", e)
		}
	}
	drawn()
	report(t, "", fmt.Sprintf("status page (headless Chromium): every path up %.1f s after the page opened", took.Seconds()))

	// One direction broken.
	broken, other := labPath{"sql1", "mi1", labEndpoint}, labPath{"mi1", "sql1", labEndpoint}
	inj, err := lab.Inject(netlab.Fault{Kind: netlab.Drop, From: "sql", To: "mi", Port: labEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	injected := time.Now()
	var otherWentDown bool
	waitPage("sql1→mi1:5022 down with timeout", 20*time.Second, func(s map[string]pageState) bool {
		return s[ids[broken]].State == "down" && s[ids[broken]].Result == "timeout"
	}, func(s map[string]pageState) {
		if s[ids[other]].State != "up" {
			otherWentDown = true
		}
	})
	report(t, fmt.Sprintf("status page: drop sql→mi 5022 → that path DOWN/timeout on the page %.1f s after the fault", time.Since(injected).Seconds()))
	s := read()
	for p, id := range ids {
		if p != broken && s[id].State != "up" {
			t.Errorf("%s (not faulted) reads %+v on the page, want up", id, s[id])
		}
	}
	if otherWentDown {
		t.Errorf("%s left up while only %s was faulted", ids[other], ids[broken])
	}
	if asym := text(`(document.querySelector('.asym') || {}).textContent || ''`); !strings.Contains(asym, "sql → mi fails while mi → sql works") {
		t.Errorf("no one-direction warning on the page: %q", asym)
	}
	if file := os.Getenv("LINKMESH_STATUS_SCREENSHOT"); file != "" {
		// The broken path opened, with its explanation and fix, as a user clicks it.
		text(`(() => { const d = document.querySelector('[data-path-id="sql1→mi1:5022/tcp"]'); d.open = true; return ''; })()`)
		time.Sleep(300 * time.Millisecond) // the toggle redraw; only for the picture
		if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err != nil {
			t.Errorf("screenshot: %v", err)
		} else if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Error(err)
		}
	}
	if out, err := linkmeshStatus(t, m); err == nil || !strings.Contains(out, "sql → mi: 1 of 2 down") {
		t.Errorf("linkmesh status with a path down: exit %v (want 1):\n%s", err, out)
	}
	if err := inj.Remove(); err != nil {
		t.Fatal(err)
	}
	waitPage("every path up after the repair", 30*time.Second, allUp, nil)

	// A killed probe: its paths unknown, never down.
	if err := syscall.Kill(m.probes["mi"].Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	miPaths := []labPath{{"mi1", "sql1", labEndpoint}, {"mi1", "sql1", labResponder}, {"sql1", "mi1", labResponder}}
	var sawDown []string
	took = waitPage("mi1's paths unknown", 30*time.Second, func(s map[string]pageState) bool {
		for _, p := range miPaths {
			if s[ids[p]].State != "unknown" {
				return false
			}
		}
		return true
	}, func(s map[string]pageState) {
		for _, p := range miPaths {
			if s[ids[p]].State == "down" {
				sawDown = append(sawDown, ids[p])
			}
		}
	})
	if len(sawDown) > 0 {
		t.Errorf("after the probe was killed the page showed down, want unknown: %v", sawDown)
	}
	if st := read()[ids[labPath{"sql1", "mi1", labEndpoint}]]; st.State != "up" {
		t.Errorf("sql1→mi1:5022 (the mi host's listener, not the probe) reads %+v, want up", st)
	}
	report(t, fmt.Sprintf("status page: kill -9 of probe mi1 → its paths UNKNOWN (never DOWN) on the page in %.1f s", took.Seconds()))
	m.startProbe(t, "mi")
	waitPage("every path up with mi1 back", 40*time.Second, allUp, nil)

	// The coordinator goes away and comes back.
	m.coord.kill9(t)
	waitPage("the page says the coordinator is not answering", 20*time.Second, func(map[string]pageState) bool {
		return strings.Contains(text(bannerJS), "not answering")
	}, nil)
	m.coord = startLabProc(t, lab.Router(), "coordinator", m.bin, m.coordArgs...)
	m.waitReady(t)
	waitPage("every path up after the coordinator's restart", 60*time.Second, func(s map[string]pageState) bool {
		return text(bannerJS) == "" && allUp(s)
	}, nil)

	drawn()

	// Phone width: nothing wider than the screen but the scrollable tables.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if overflow, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); err != nil || overflow {
		t.Errorf("at 390 px wide the page scrolls sideways (%v)", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requests) < 3 {
		t.Errorf("only %d requests seen: %v", len(requests), requests)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, outside its coordinator %s", u, base)
		}
	}
}

// linkmeshStatus runs `linkmesh status --explain` in the router's namespace
// against the lab's coordinator.
func linkmeshStatus(t *testing.T, m *labMesh) (string, error) {
	t.Helper()
	// Bounded by the command's own 10 s HTTP timeout.
	out, err := m.lab.Router().Command(m.bin, "status", "--coordinator", m.base, "--explain").CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() != 1 {
		return string(out), fmt.Errorf("exit %d", ee.ExitCode())
	}
	return string(out), err
}

// forwardToLab listens on loopback in the test's own namespace and relays each
// connection to addr through h's namespace (a browser in the root namespace
// cannot reach the lab). It returns the base URL; everything stops with the
// test.
func forwardToLab(t *testing.T, h *netlab.Host, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			open[c] = true
		} else {
			delete(open, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at cleanup
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				up, err := h.DialContext(ctx, "tcp", addr)
				cancel()
				if err != nil {
					return // the coordinator is down: the browser sees a closed connection
				}
				defer up.Close()
				track(c, true)
				track(up, true)
				defer track(c, false)
				defer track(up, false)
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
				go func() { io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + l.Addr().String()
}

// closeWrite half-closes c when it is TCP (the peer reads EOF), else closes it.
func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}
