package echo

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
)

// TestNoAnswer: a missing answer before the hello is a middlebox (mismatch)
// only when the far kernel acknowledged everything and the connection lost
// nothing; any sign of loss makes it a timeout that says so. After the hello
// it is always a timeout.
func TestNoAnswer(t *testing.T) {
	errTimeout := errors.New("i/o timeout")
	tests := []struct {
		name   string
		authed bool
		ev     evidence
		code   attempt.Code
		detail []string // substrings the detail must hold
	}{
		{"acknowledged, nothing lost: a middlebox", false, evidence{known: true},
			attempt.Mismatch, []string{"acknowledged the hello", "no packet was lost", "firewall or proxy"}},
		{"never acknowledged, resent: loss", false, evidence{known: true, unacked: true, resent: 2},
			attempt.Timeout, []string{"never acknowledged", "2 retransmissions", "lost on the path"}},
		{"acknowledged after resends: the answer was lost", false, evidence{known: true, resent: 1},
			attempt.Timeout, []string{"packets were lost and resent", "1 retransmission", "answer was most likely lost"}},
		{"not yet acknowledged, nothing resent: timeout", false, evidence{known: true, unacked: true},
			attempt.Timeout, []string{"not acknowledged"}},
		{"platform cannot tell: timeout naming both", false, evidence{},
			attempt.Timeout, []string{"cannot tell", "lost on the path", "firewall or proxy"}},
		{"after the hello, nothing lost: still a timeout", true, evidence{known: true},
			attempt.Timeout, []string{"no answer to the hello before the deadline"}},
		{"after the hello, with loss", true, evidence{known: true, resent: 3},
			attempt.Timeout, []string{"3 retransmissions"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := noAnswer("the hello", tt.authed, tt.ev, errTimeout)
			if got.code != tt.code {
				t.Errorf("code %v, want %v (detail %q)", got.code, tt.code, got.detail)
			}
			for _, s := range tt.detail {
				if !strings.Contains(got.detail, s) {
					t.Errorf("detail %q lacks %q", got.detail, s)
				}
			}
			if tt.code == attempt.Timeout && strings.Contains(got.detail, "answered the TCP handshake in the responder's place") && tt.ev.known {
				t.Errorf("detail %q blames a middlebox on a lossy path", got.detail)
			}
			if !errors.Is(got, errTimeout) {
				t.Errorf("the read's error is not wrapped")
			}
		})
	}
}

// TestRoundLossCount feeds synthetic counters: this side's resends after each
// round trip, the responder's count in each reply, and the round trips'
// times.
func TestRoundLossCount(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		cli       []uint32 // before round 1, then after each
		srv       []uint32 // in reply 1, 2, ...
		rtt       []time.Duration
		limit     int
		n, lost   uint32
		unknownOK bool
	}{
		{"clean: 3 rounds (+1 extra)", []uint32{0, 0, 0, 0, 0}, []uint32{0, 0, 0, 0}, []time.Duration{ms, ms, ms, ms}, 3, 3, 0, false},
		{"request 2 lost: this side resent in round 2", []uint32{0, 0, 1, 1, 1}, []uint32{0, 0, 0, 0}, []time.Duration{ms, 210 * ms, ms, ms}, 3, 3, 1, false},
		{"reply 2 lost, the responder's resend won the race: seen in reply 3", []uint32{5, 5, 5, 5, 5}, []uint32{1, 1, 2, 2}, []time.Duration{ms, 205 * ms, ms, ms}, 3, 3, 1, false},
		// Request 3 lost: this side resends it, and the responder resends
		// reply 2 (its acknowledgement rode on request 3). Round 2 was fast:
		// only round 3 lost a packet.
		{"lost acknowledgement is the next round's loss", []uint32{0, 0, 0, 1, 1}, []uint32{0, 0, 1, 1}, []time.Duration{ms, ms, 210 * ms, ms}, 3, 3, 1, false},
		// Reply 2 lost and request 3 lost: round 2 waited for a timer, so
		// the responder's resend is round 2's loss too.
		{"reply lost and next request lost", []uint32{0, 0, 0, 1, 1}, []uint32{0, 0, 1, 1}, []time.Duration{ms, 220 * ms, 210 * ms, ms}, 3, 3, 2, false},
		{"extra round never counted", []uint32{0, 0, 0, 0, 1}, []uint32{0, 0, 0, 0}, []time.Duration{ms, ms, ms, 300 * ms}, 3, 3, 0, false},
		// Failed in round 4 of 5: round 3 has no next reply, so its own
		// resends and time decide.
		{"last completed round, slow", []uint32{0, 0, 0, 0}, []uint32{0, 0, 0}, []time.Duration{ms, ms, 250 * ms}, 5, 3, 1, false},
		{"last completed round, fast", []uint32{0, 0, 0, 0}, []uint32{0, 0, 0}, []time.Duration{ms, ms, ms}, 5, 3, 0, false},
		{"no kernel figures: nothing counted", nil, nil, nil, 3, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &roundLoss{known: !tt.unknownOK, cli: tt.cli, srv: tt.srv, rtt: tt.rtt}
			n, lost := r.count(tt.limit)
			if n != tt.n || lost != tt.lost {
				t.Errorf("count: %d exchanges, %d lost; want %d, %d", n, lost, tt.n, tt.lost)
			}
		})
	}
}

// TestClosedAfterLoss: a far end that closes before answering is a
// middlebox (the caller's mismatch) unless the connection lost packets.
func TestClosedAfterLoss(t *testing.T) {
	if se := closedAfterLoss("the hello", "closed", evidence{known: true}, nil); se != nil {
		t.Errorf("no loss: got %v %q, want nil (mismatch stands)", se.code, se.detail)
	}
	if se := closedAfterLoss("the hello", "closed", evidence{}, nil); se != nil {
		t.Errorf("unknown platform: got %v %q, want nil", se.code, se.detail)
	}
	se := closedAfterLoss("the hello", "reset", evidence{known: true, resent: 4}, nil)
	if se == nil || se.code != attempt.Reset || !strings.Contains(se.detail, "4 retransmissions") || !strings.Contains(se.detail, "then reset") {
		t.Errorf("with loss: got %+v, want reset naming 4 retransmissions", se)
	}
}

func TestLostOnTimeout(t *testing.T) {
	base := attempt.Result{Exchanges: 4, ExchangesLost: 1}
	got := lostOnTimeout(base, &stepError{code: attempt.Timeout, detail: "no answer"})
	if got.Exchanges != 5 || got.ExchangesLost != 2 {
		t.Errorf("timeout: %d/%d, want 5/2", got.ExchangesLost, got.Exchanges)
	}
	got = lostOnTimeout(base, &stepError{code: attempt.Mismatch, detail: "wrong answer"})
	if got.Exchanges != 4 || got.ExchangesLost != 1 {
		t.Errorf("mismatch: %d/%d, want 4/1 (a wrong answer says nothing about loss)", got.ExchangesLost, got.Exchanges)
	}
}
