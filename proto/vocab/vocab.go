// Package vocab is linkmesh's one vocabulary of attempt results and probe kinds:
// the names the wire format's Code and Kind values go by in metrics labels, the
// HTTP API, the check report, the configuration and the logs. The probe and
// the coordinator both read it, so a `result="timeout"` means the same thing on
// either side's /metrics.
package vocab

import (
	"strconv"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// Label names shared by the probe's and the coordinator's metrics.
const (
	// ResultLabel is the label holding a result's Name ("ok", "timeout", …).
	ResultLabel = "result"
	// KindLabel is the label holding a kind's Name ("tcp", "echo", "dns").
	KindLabel = "kind"
)

// Codes lists every valid result code, in the order DESIGN §3 lists them.
var Codes = []linkmeshv1.Code{
	linkmeshv1.Code_CODE_OK,
	linkmeshv1.Code_CODE_REFUSED,
	linkmeshv1.Code_CODE_TIMEOUT,
	linkmeshv1.Code_CODE_UNREACHABLE,
	linkmeshv1.Code_CODE_DNS,
	linkmeshv1.Code_CODE_RESET,
	linkmeshv1.Code_CODE_MISMATCH,
	linkmeshv1.Code_CODE_ERROR,
}

// NumCodes sizes arrays indexed by a valid Code (CODE_ERROR is the last).
const NumCodes = int(linkmeshv1.Code_CODE_ERROR) + 1

// Kinds lists every kind a probe runs.
var Kinds = []linkmeshv1.Kind{linkmeshv1.Kind_KIND_TCP, linkmeshv1.Kind_KIND_ECHO, linkmeshv1.Kind_KIND_DNS}

// CodeName is the name of c as the `result` label, the API and the reports
// spell it: "ok", "refused", "timeout", "unreachable", "dns", "reset",
// "mismatch", "error"; "unspecified" for the zero value and "code(N)" for a
// value this build does not know.
func CodeName(c linkmeshv1.Code) string {
	switch c {
	case linkmeshv1.Code_CODE_UNSPECIFIED:
		return "unspecified"
	case linkmeshv1.Code_CODE_OK:
		return "ok"
	case linkmeshv1.Code_CODE_REFUSED:
		return "refused"
	case linkmeshv1.Code_CODE_TIMEOUT:
		return "timeout"
	case linkmeshv1.Code_CODE_UNREACHABLE:
		return "unreachable"
	case linkmeshv1.Code_CODE_DNS:
		return "dns"
	case linkmeshv1.Code_CODE_RESET:
		return "reset"
	case linkmeshv1.Code_CODE_MISMATCH:
		return "mismatch"
	case linkmeshv1.Code_CODE_ERROR:
		return "error"
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// ValidCode reports whether c is one of Codes.
func ValidCode(c linkmeshv1.Code) bool {
	return c > linkmeshv1.Code_CODE_UNSPECIFIED && int(c) < NumCodes
}

// KindName is the name of k as the `kind` label and the configuration spell
// it: "tcp", "echo", "dns"; "unspecified" for the zero value and "kind(N)"
// for a value this build does not know.
func KindName(k linkmeshv1.Kind) string {
	switch k {
	case linkmeshv1.Kind_KIND_UNSPECIFIED:
		return "unspecified"
	case linkmeshv1.Kind_KIND_TCP:
		return "tcp"
	case linkmeshv1.Kind_KIND_ECHO:
		return "echo"
	case linkmeshv1.Kind_KIND_DNS:
		return "dns"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// KindNames lists the names of Kinds, in order: what the configuration accepts.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = KindName(k)
	}
	return out
}

// ParseKind returns the kind whose KindName is s (one of KindNames).
func ParseKind(s string) (linkmeshv1.Kind, bool) {
	for _, k := range Kinds {
		if KindName(k) == s {
			return k, true
		}
	}
	return linkmeshv1.Kind_KIND_UNSPECIFIED, false
}

// The roles of a check round's targets (CheckTarget.role), in the order a
// CheckRound lists them.
const (
	// RoleP3: the peer connects to SQL Server's endpoint (echo through a
	// stand-in, else tcp).
	RoleP3 = "p3"
	// RoleD2: the peer resolves the SQL host (only when it is a name).
	RoleD2 = "d2"
	// RoleEchoToPeer: the probe on the SQL host → the peer's responder (path
	// MTU, the burst).
	RoleEchoToPeer = "echo_to_peer"
	// RoleEchoFromPeer: the peer → the probe's responder (path MTU).
	RoleEchoFromPeer = "echo_from_peer"
)
