package gossip

import (
	"crypto/rand"
	"log"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/internal/waitfor"
)

// TestGossipJunkPacketsLogBounded: 2,000 junk UDP packets to a keyed member's
// gossip port (each a decrypt failure in memberlist) make a bounded number of
// log lines: the first at once, then one summary with the count. They used to
// make 2,000 ERROR lines in 40 ms.
func TestGossipJunkPacketsLogBounded(t *testing.T) {
	logs := &syncBuf{}
	n, _ := startNode(t, Meta{Role: RoleProbe, Name: "p1"}, testKey(1), nil, logs)
	conn, err := net.Dial("udp", n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const packets, batch = 2000, 100
	base := n.logs.lines.Load()
	junk := make([]byte, 64)
	for sent := 0; sent < packets; {
		for range batch {
			rand.Read(junk)
			junk[0] = 'j' // no label, no known encryption version: a decrypt failure each
			if _, err := conn.Write(junk); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		// A batch at a time, so the socket's buffer never overflows.
		waitfor.Cond(t, 10*time.Second, "memberlist read the junk", func() bool { return n.logs.lines.Load()-base >= int64(sent) })
	}
	errLines := func() int { return strings.Count(logs.String(), "level=ERROR") }
	if got := errLines(); got != 1 {
		t.Errorf("after %d junk packets: %d ERROR lines, want 1 (the first)\n%s", packets, got, logs.String())
	}
	n.logs.flush(time.Now().Add(logInterval))
	if got := errLines(); got != 2 {
		t.Errorf("after the interval: %d ERROR lines, want 2 (the first and one summary)", got)
	}
	if want := "suppressed=1998"; !strings.Contains(logs.String(), want) {
		t.Errorf("the summary does not say %s:\n%s", want, logs.String())
	}
	t.Logf("%d junk packets → %d log lines in all", packets, strings.Count(logs.String(), "\n"))
}

// TestLogWriterKinds: lines are limited per kind (level and message up to its
// first variable part), a line after the interval carries the count held
// back, info lines pass, and the kinds tracked are bounded.
func TestLogWriterKinds(t *testing.T) {
	logs := &syncBuf{}
	w := newLogWriter(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), 50*time.Millisecond)
	l := log.New(w, "", 0)
	for i := range 5 {
		l.Printf("[ERR] memberlist: Decrypt packet failed: no key from=127.0.0.1:%d", 1000+i)
		l.Printf("[WARN] memberlist: Got ping for unexpected node 'x%d' from=127.0.0.1:1", i)
		l.Printf("[INFO] memberlist: Suspect x%d has failed, no acks received", i)
	}
	out := logs.String()
	if c := strings.Count(out, "Decrypt packet failed"); c != 1 {
		t.Errorf("decrypt lines: %d, want 1", c)
	}
	if c := strings.Count(out, "unexpected node"); c != 1 {
		t.Errorf("unexpected-node lines: %d, want 1", c)
	}
	if c := strings.Count(out, "level=INFO"); c != 5 {
		t.Errorf("info lines: %d, want 5 (not limited)", c)
	}
	waitfor.Poll(5*time.Second, func() bool {
		if strings.Contains(logs.String(), "suppressed=4") {
			return true
		}
		l.Printf("[ERR] memberlist: Decrypt packet failed: no key from=127.0.0.1:2000")
		return false
	})
	if !strings.Contains(logs.String(), "suppressed=") {
		t.Errorf("no line carried the count held back:\n%s", logs.String())
	}
	for i := range 2 * maxLogKinds {
		l.Printf("[ERR] kind %c%c failed", 'a'+i/26, 'a'+i%26)
	}
	w.mu.Lock()
	kinds := len(w.kinds)
	w.mu.Unlock()
	if kinds > maxLogKinds+1 {
		t.Errorf("%d kinds tracked, want at most %d", kinds, maxLogKinds+1)
	}
}
