package e2e

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
