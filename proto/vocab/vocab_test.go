package vocab

import (
	"strings"
	"testing"

	linkmeshv1 "github.com/linkmesh/linkmesh/proto/linkmesh/v1"
)

// TestNamesFollowTheProto checks that every value the wire format defines has
// a name here, and that the name is the proto's own without its prefix, so a
// code added to the .proto cannot go unnamed.
func TestNamesFollowTheProto(t *testing.T) {
	for n, name := range linkmeshv1.Code_name {
		c := linkmeshv1.Code(n)
		if got, want := CodeName(c), strings.ToLower(strings.TrimPrefix(name, "CODE_")); got != want {
			t.Errorf("CodeName(%v) = %q, want %q", c, got, want)
		}
		if c != linkmeshv1.Code_CODE_UNSPECIFIED && !ValidCode(c) {
			t.Errorf("%v is not ValidCode", c)
		}
	}
	if len(Codes) != len(linkmeshv1.Code_name)-1 || NumCodes != len(linkmeshv1.Code_name) {
		t.Errorf("Codes has %d entries, NumCodes %d; the proto defines %d codes besides UNSPECIFIED", len(Codes), NumCodes, len(linkmeshv1.Code_name)-1)
	}
	for n, name := range linkmeshv1.Kind_name {
		k := linkmeshv1.Kind(n)
		want := strings.ToLower(strings.TrimPrefix(name, "KIND_"))
		if got := KindName(k); got != want {
			t.Errorf("KindName(%v) = %q, want %q", k, got, want)
		}
		if k == linkmeshv1.Kind_KIND_UNSPECIFIED {
			continue
		}
		if got, ok := ParseKind(want); !ok || got != k {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", want, got, ok, k)
		}
	}
	if len(Kinds) != len(linkmeshv1.Kind_name)-1 {
		t.Errorf("Kinds has %d entries; the proto defines %d kinds besides UNSPECIFIED", len(Kinds), len(linkmeshv1.Kind_name)-1)
	}
}

// TestDocumentedNames pins the names docs/metrics.md and the alert rules use.
func TestDocumentedNames(t *testing.T) {
	var got []string
	for _, c := range Codes {
		got = append(got, CodeName(c))
	}
	if g, want := strings.Join(got, " "), "ok refused timeout unreachable dns reset mismatch error"; g != want {
		t.Errorf("code names %q, want %q", g, want)
	}
	if g, want := strings.Join(KindNames(), " "), "tcp echo dns"; g != want {
		t.Errorf("kind names %q, want %q", g, want)
	}
}

func TestUnknownValues(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{CodeName(99), "code(99)"},
		{KindName(42), "kind(42)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if ValidCode(linkmeshv1.Code_CODE_UNSPECIFIED) || ValidCode(99) {
		t.Error("ValidCode accepts UNSPECIFIED or 99")
	}
	for _, s := range []string{"", "TCP", "unspecified", "icmp"} {
		if _, ok := ParseKind(s); ok {
			t.Errorf("ParseKind(%q) accepted", s)
		}
	}
}
