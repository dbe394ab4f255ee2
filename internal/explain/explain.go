// Package explain holds the one short, human explanation of each result code:
// what an attempt that ended in it most likely met on the network. The probe's
// attempt.Code.Explain (check reports) and the coordinator's /api/v1/paths
// (last_explanation) both read it, so a result reads the same everywhere.
package explain

import linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"

var texts = map[linkmeshv1.Code]string{
	linkmeshv1.Code_CODE_OK:          "the connection succeeded: the path is open and something answers",
	linkmeshv1.Code_CODE_REFUSED:     "the host answered with a reset: the path works, but nothing listens on the port, or a firewall answered with a reset",
	linkmeshv1.Code_CODE_TIMEOUT:     "no answer before the deadline: a firewall, NSG or route drops the packets, or the host is down",
	linkmeshv1.Code_CODE_UNREACHABLE: "the destination was reported unreachable or prohibited: a route is missing, or a firewall (possibly on this host) rejects the traffic",
	linkmeshv1.Code_CODE_DNS:         "the name did not resolve: check the DNS server, the private DNS zone or the hosts file",
	linkmeshv1.Code_CODE_RESET:       "the connection was established and then reset: a firewall or proxy cut it, or the service dropped the client",
	linkmeshv1.Code_CODE_MISMATCH:    "something answered that is not the expected responder: another service or a middlebox holds the port",
	linkmeshv1.Code_CODE_ERROR:       "the attempt failed in an unexpected way; see the detail",
}

// Result returns the explanation of code c. It says what most likely happened,
// not how to fix it (docs/results.md does that); an unknown code gets
// "unknown result code".
func Result(c linkmeshv1.Code) string {
	if s, ok := texts[c]; ok {
		return s
	}
	return "unknown result code"
}
