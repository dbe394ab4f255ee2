package e2e

import "strings"

// checkRow is a row of the JSON report (the fields the lab reads).
type checkRow struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Result   string `json:"result"`
	Measured string `json:"measured"`
	Reason   string `json:"reason"`
	Fix      *struct {
		For   string `json:"for"`
		Steps []struct {
			Command string `json:"command"`
		} `json:"steps"`
	} `json:"fix"`
}

func (r checkRow) commands() string {
	var b strings.Builder
	if r.Fix != nil {
		for _, s := range r.Fix.Steps {
			b.WriteString(s.Command + "\n")
		}
	}
	return b.String()
}
