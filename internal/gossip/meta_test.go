package gossip

import "testing"

// TestDecodeMetaAddresses: a member whose gossiped responder or gRPC address
// is not host:port is no member of ours (others would dial it).
func TestDecodeMetaAddresses(t *testing.T) {
	for _, tt := range []struct {
		meta string
		ok   bool
	}{
		{``, true},
		{`{"r":"c","g":"198.18.0.1:7022"}`, true},
		{`{"r":"p","s":"mi","p":":5023"}`, true},
		{`{"r":"c","g":"198.18.0.1"}`, false},
		{`{"r":"c","g":"198.18.0.1:0"}`, false},
		{`{"r":"p","p":"198.18.0.1:99999"}`, false},
		{`{"r":"p","p":"a b"}`, false},
		{`not json`, false},
	} {
		if _, err := decodeMeta("m1", []byte(tt.meta)); (err == nil) != tt.ok {
			t.Errorf("%s: got %v, want ok=%v", tt.meta, err, tt.ok)
		}
	}
}
