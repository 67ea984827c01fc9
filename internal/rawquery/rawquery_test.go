package rawquery

import (
	"net/url"
	"testing"
)

// Get agrees with url.ParseQuery's first value for every key it parses.
func FuzzGet(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%41&a=2", "a+b=c+d", "x=%zz", "=&=", "a", "a=1;b=2", "%61=1"} {
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return // url.ParseQuery drops what it cannot parse; Get is lenient
		}
		want, wantOK := vals[key]
		got, ok := Get(raw, key)
		if ok != wantOK || (ok && got != want[0]) {
			t.Fatalf("Get(%q, %q) = %q, %v; url.ParseQuery: %q, %v", raw, key, got, ok, want, wantOK)
		}
	})
}
