package round

import (
	"strconv"
	"testing"
)

// TestHistoryBounded: the ring keeps the last historySize rounds, and Recent
// gives them newest first.
func TestHistoryBounded(t *testing.T) {
	r := &Runner{}
	for i := range historySize + 5 {
		r.history.add(Summary{ID: strconv.Itoa(i)})
	}
	got := r.Recent()
	if len(got) != historySize || got[0].ID != strconv.Itoa(historySize+4) || got[historySize-1].ID != "5" {
		t.Fatalf("Recent: %d rounds, newest %s, oldest %s; want %d, %d, 5", len(got), got[0].ID, got[len(got)-1].ID, historySize, historySize+4)
	}
}
