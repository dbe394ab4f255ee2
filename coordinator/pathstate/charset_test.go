package pathstate

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the charsets replace.
var charsetRegexps = []struct {
	name string
	c    *charset
	re   *regexp.Regexp
}{
	{"labelValue", labelValueRe, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)},
	{"member", memberRe, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,75}$`)},
	{"round", roundRe, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)},
	{"host", hostRe, regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._:%-]{0,252}$`)},
}

var charsetSeeds = []string{"", "a", "sql01", "-a", "_a", "a_b", ".a", "a.b-c", "coordinator:lab", "chk-3f9a0c1d",
	"fe80::1%eth0", "10.0.0.1", "mi1.abc.database.windows.net", "a\n", "a b", "é", "a/b", "[::1]",
	strings.Repeat("a", 62), strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a", 75), strings.Repeat("a", 76),
	strings.Repeat("a", 77), strings.Repeat("a", 253), strings.Repeat("a", 254), "a\x00", "A-Z", "\xff"}

// TestCharsetsMatchRegexps: each charset accepts exactly what its regexp does.
func TestCharsetsMatchRegexps(t *testing.T) {
	for _, s := range charsetSeeds {
		for _, cr := range charsetRegexps {
			if got, want := cr.c.MatchString(s), cr.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the regexp says %v", cr.name, s, got, want)
			}
		}
	}
}

// FuzzCharsetsMatchRegexps: go test -fuzz FuzzCharsetsMatchRegexps ./coordinator/pathstate/
func FuzzCharsetsMatchRegexps(f *testing.F) {
	for _, s := range charsetSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, cr := range charsetRegexps {
			if got, want := cr.c.MatchString(s), cr.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, the regexp says %v", cr.name, s, got, want)
			}
		}
	})
}
