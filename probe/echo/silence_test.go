package echo

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// TestSilenceTwiceInARow: with a Silence, a far end that accepts, reads and
// never answers reads timeout on the first attempt (it could be the
// responder's answer lost on the way back, which this side cannot see) and
// mismatch on the second in a row; a cleared record starts the count again,
// and attempts at another address do not touch it.
func TestSilenceTwiceInARow(t *testing.T) {
	silent := startServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	closedAt := startServer(t, func(net.Conn) {})
	p := &Prober{Key: key, Silence: NewSilence()}
	probe := func(addr string) attempt.Result {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return p.Probe(ctx, addr, Options{Rounds: 1})
	}
	first := probe(silent)
	if first.Code != attempt.Timeout || !strings.Contains(first.Detail, "answer lost on the way back") {
		t.Errorf("first silent attempt: %v %q, want a timeout naming the lost answer", first.Code, first.Detail)
	}
	if second := probe(silent); second.Code != attempt.Mismatch {
		t.Errorf("second silent attempt in a row: %v %q, want mismatch", second.Code, second.Detail)
	}
	p.Silence.clear(silent)
	probe(closedAt) // another address: its outcome does not touch silent's record
	if again := probe(silent); again.Code != attempt.Timeout {
		t.Errorf("after the record was cleared: %v, want timeout again", again.Code)
	}
	// Without a Silence (the table in echo_test.go): mismatch at once.
}
