//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/netlab"
	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// notification is one alert of one webhook call from Alertmanager.
type notification struct {
	At          time.Time
	Status      string // firing or resolved
	Labels      map[string]string
	Annotations map[string]string
}

// webhook is Alertmanager's receiver: an HTTP server in the router namespace
// that records every alert it is sent.
type webhook struct {
	addr string
	mu   sync.Mutex
	got  []notification
}

func startWebhook(t *testing.T, router *netlab.Host) *webhook {
	t.Helper()
	lis, err := router.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{addr: lis.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []struct {
				Status      string            `json:"status"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		w.mu.Lock()
		for _, a := range msg.Alerts {
			w.got = append(w.got, notification{At: now, Status: a.Status, Labels: a.Labels, Annotations: a.Annotations})
		}
		w.mu.Unlock()
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return w
}

// matching returns the notifications received at or after since that have the
// given status ("" for any) and all the given labels.
func (w *webhook) matching(since time.Time, status string, kv ...string) []notification {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []notification
	for _, n := range w.got {
		if n.At.Before(since) || status != "" && n.Status != status {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if n.Labels[kv[i]] != kv[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// wait polls until a notification received since since matches, or timeout.
func (w *webhook) wait(t *testing.T, timeout time.Duration, since time.Time, status string, kv ...string) notification {
	t.Helper()
	var got []notification
	if waitfor.Poll(timeout, func() bool {
		got = w.matching(since, status, kv...)
		return len(got) > 0
	}) {
		return got[0]
	}
	t.Fatalf("after %v: no %s notification with %v reached the webhook; received:\n%s", timeout, status, kv, w.dump())
	return notification{}
}

func (w *webhook) dump() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	for _, n := range w.got {
		fmt.Fprintf(&b, "  %s %s %v\n", n.At.Format("15:04:05.000"), n.Status, n.Labels)
	}
	return b.String()
}
