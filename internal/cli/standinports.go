package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// portList is the probe's --stand-in-ports: comma-separated or repeated TCP
// ports; the first use replaces the default (5022).
type portList []uint32

func (p *portList) String() string {
	if p == nil || len(*p) == 0 {
		return ""
	}
	s := make([]string, len(*p))
	for i, n := range *p {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ",")
}

func (p *portList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("%q: give TCP ports, e.g. 5022", f)
		}
		*p = append(*p, uint32(n))
	}
	return nil
}
