package echo

import (
	"fmt"
	"net"
	"time"

	"github.com/linkmesh/linkmesh/probe/attempt"
	"github.com/linkmesh/linkmesh/probe/tcpinfo"
)

// evidence is what this side's kernel says about the connection when an
// answer did not come: whether what was sent arrived, and whether the path
// lost packets on it. It decides between "lost on the way" (timeout) and
// "something that is not the responder took the connection" (mismatch).
type evidence struct {
	// known: the platform reported the connection's state (Linux TCP_INFO,
	// Windows SIO_TCP_INFO); without it nothing below is known.
	known bool
	// unacked: some of what this side sent is not acknowledged by the far
	// end's kernel.
	unacked bool
	// resent counts segments this side sent again since the connection
	// opened, SYNs included: each is a packet the path lost (or delayed past
	// the retransmission timer).
	resent uint32
}

// readEvidence asks the kernel about the session's connection. A handshake
// that lost its first SYN exchange (seen by its time even when the kernel
// resent no SYN: the far end's SYN-ACK retransmission can win the race) counts
// as a resend.
func (s *session) readEvidence() evidence {
	info, err := tcpinfo.Get(s.conn)
	if err != nil {
		return evidence{}
	}
	ev := evidence{known: true, unacked: info.Unacked > 0, resent: info.Retransmits}
	if s.handshakeLost && ev.resent == 0 {
		ev.resent = 1
	}
	return ev
}

// noAnswer classifies an answer to during that did not come before the
// deadline (err is the read's timeout).
//
// After the hello (authed) the far end has proved it is a responder of this
// mesh: a missing answer is a timeout, whatever the kernel says. Before it,
// a silent far end is a middlebox (mismatch) only on evidence: the far
// kernel acknowledged every byte sent, and the connection lost no packet. A
// connection that lost packets — SYNs or data resent, or bytes never
// acknowledged — is a lossy path: the hello or its answer was lost, a
// timeout. Where the platform cannot tell, nothing proves a middlebox, so it
// is a timeout whose detail names both possibilities.
func noAnswer(during string, authed bool, ev evidence, err error) *stepError {
	lost := ""
	switch {
	case ev.known && ev.resent > 0 && ev.unacked:
		lost = fmt.Sprintf("; packets were lost and resent on this connection (%s), and the far end has not acknowledged all that was sent",
			retransmissions(ev.resent))
	case ev.known && ev.resent > 0:
		lost = fmt.Sprintf("; packets were lost and resent on this connection (%s), so the answer was most likely lost too",
			retransmissions(ev.resent))
	case ev.known && ev.unacked:
		lost = "; the far end had not acknowledged all that was sent"
	}
	switch {
	case authed:
		return &stepError{code: attempt.Timeout, err: err, detail: fmt.Sprintf(
			"no answer to %s before the deadline%s", during, lost)}
	case !ev.known:
		return &stepError{code: attempt.Timeout, err: err, detail: fmt.Sprintf(
			"the connection was accepted, but no answer to %s came back before the deadline; this platform cannot tell whether the bytes arrived: "+
				"packets lost on the path, or a firewall or proxy that answered the TCP handshake in the responder's place", during)}
	case ev.unacked && ev.resent > 0:
		return &stepError{code: attempt.Timeout, err: err, detail: fmt.Sprintf(
			"no answer to %s before the deadline: the far end never acknowledged all of it although it was resent (%s on this connection): "+
				"packets are being lost on the path (or a device that answered the TCP handshake drops the data after it)", during, retransmissions(ev.resent))}
	case ev.unacked || ev.resent > 0:
		return &stepError{code: attempt.Timeout, err: err, detail: fmt.Sprintf(
			"the connection was accepted, but no answer to %s came back before the deadline%s", during, lost)}
	}
	return &stepError{code: attempt.Mismatch, err: err, silentAcked: true, detail: fmt.Sprintf(
		"the connection was accepted and the far end acknowledged %[1]s, but no answer to %[1]s came back before the deadline, and no packet was lost on the connection: "+
			"a firewall or proxy answered the TCP handshake in the responder's place, or something drops data after it", during)}
}

// closedAfterLoss classifies a far end that closed or reset the connection
// (how) before answering during, when the connection lost packets: a
// responder gives up on a hello that takes longer than its handshake timeout
// (5 s), so on a lossy path this is loss, not a middlebox. It is reset (the
// connection was accepted, then cut), with a detail naming the loss. Without
// evidence of loss it returns nil: the caller's mismatch stands.
func closedAfterLoss(during, how string, ev evidence, err error) *stepError {
	if !ev.known || ev.resent == 0 {
		return nil
	}
	return &stepError{code: attempt.Reset, err: err, detail: fmt.Sprintf(
		"the connection was accepted, then %s before an answer to %s came, on a connection that lost packets (%s): "+
			"a responder gives up on a hello that takes over 5 s, so packets are being lost on the path", how, during, retransmissions(ev.resent))}
}

func retransmissions(n uint32) string {
	if n == 1 {
		return "1 retransmission"
	}
	return fmt.Sprintf("%d retransmissions", n)
}

// roundLoss follows an attempt's round trips to count each as an exchange
// that lost a packet or not (see count).
type roundLoss struct {
	known bool
	// cli is this side's count of resent segments before the first round trip
	// (index 0) and after each one (index i after round i).
	cli []uint32
	// srv is the responder's count carried in each echo reply (index i-1 for
	// reply i). The responder reads it as it sends the reply, so a resend of
	// reply i shows only in reply i+1.
	srv []uint32
	// rtt is each round trip's time (index i-1 for round i).
	rtt []time.Duration
}

// slowBy is how much longer than the attempt's fastest round trip a round
// trip must take to have waited for a retransmission timer: TCP's is at
// least 200 ms (Linux) or 300 ms (Windows) over the round trip, path jitter
// far less.
const slowBy = 100 * time.Millisecond

// newRoundLoss starts following conn's counters (after the hello).
func newRoundLoss(conn *net.TCPConn) *roundLoss {
	info, err := tcpinfo.Get(conn)
	if err != nil {
		return &roundLoss{}
	}
	return &roundLoss{known: true, cli: []uint32{info.Retransmits}}
}

// add records a completed round trip: its time, this side's counter read now,
// and the responder's from its reply.
func (r *roundLoss) add(conn *net.TCPConn, rtt time.Duration, server uint32) {
	if !r.known {
		return
	}
	info, err := tcpinfo.Get(conn)
	if err != nil {
		r.known = false
		return
	}
	r.cli = append(r.cli, info.Retransmits)
	r.srv = append(r.srv, server)
	r.rtt = append(r.rtt, rtt)
}

// count returns how many of the first limit round trips count as exchanges,
// and how many of those lost a packet, the request or the reply.
//
// Round trip i lost a packet when this side resent during it (a lost request,
// or a lost reply that left the request unacknowledged), or when the
// responder resent reply i (its count rose from reply i to reply i+1). The
// responder also resends reply i when its acknowledgement, carried by request
// i+1, is lost: round i+1's loss, not round i's. So a resent reply with this
// side resending in round i+1 counts for round i only if round i waited for
// a retransmission timer (took slowBy more than the fastest round trip). The
// last round trip before a failure has no next reply: it counts on this
// side's resends and its time alone. Rounds trips are all counted, lost or
// not, so that which are counted does not depend on the outcome.
func (r *roundLoss) count(limit int) (n, lost uint32) {
	if !r.known {
		return 0, 0
	}
	done := min(len(r.rtt), limit) // completed round trips that count
	if done == 0 {
		return 0, 0
	}
	fastest := r.rtt[0]
	for _, d := range r.rtt {
		fastest = min(fastest, d)
	}
	for i := 1; i <= done; i++ {
		resent := r.cli[i] > r.cli[i-1]
		slow := r.rtt[i-1] > fastest+slowBy
		lostHere := resent || slow
		if i < len(r.srv) { // reply i+1 arrived: the responder's resends of reply i are known
			replyResent := r.srv[i] > r.srv[i-1]
			nextResent := r.cli[i+1] > r.cli[i]
			lostHere = resent || replyResent && (!nextResent || slow)
		}
		n++
		if lostHere {
			lost++
		}
	}
	return n, lost
}
