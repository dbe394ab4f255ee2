package explain

import (
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestEveryCodeExplained: each code of the API has its own explanation; the
// unspecified code and unknown numbers do not pass for one.
func TestEveryCodeExplained(t *testing.T) {
	seen := map[string]linkmeshv1.Code{}
	for n := range linkmeshv1.Code_name {
		c := linkmeshv1.Code(n)
		got := Result(c)
		if c == linkmeshv1.Code_CODE_UNSPECIFIED {
			if got != "unknown result code" {
				t.Errorf("Result(%v) = %q, want \"unknown result code\"", c, got)
			}
			continue
		}
		if got == "" || got == "unknown result code" {
			t.Errorf("Result(%v) = %q, want an explanation", c, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%v and %v share the explanation %q", prev, c, got)
		}
		seen[got] = c
	}
	if got := Result(linkmeshv1.Code(99)); got != "unknown result code" {
		t.Errorf("Result(99) = %q", got)
	}
}
