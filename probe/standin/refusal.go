package standin

import (
	"fmt"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// refusal classifies a failed bind: taken by another program, or another
// failure (e.g. not allowed to bind a low port).
func refusal(port uint32, err error) (linkmeshv1.StandInState, string) {
	if addrInUse(err) {
		return linkmeshv1.StandInState_STAND_IN_STATE_PORT_TAKEN, fmt.Sprintf(
			"port %d is in use by another program (on the SQL Server host usually the database mirroring endpoint); "+
				"left alone: measure it with the tcp kind instead", port)
	}
	return linkmeshv1.StandInState_STAND_IN_STATE_FAILED, fmt.Sprintf("cannot bind port %d: %v", port, err)
}
