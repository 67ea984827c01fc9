package rawquery

import (
	"net/url"
	"strings"
)

// Get returns the first value of key in the raw query string raw, and
// whether key is present. Values are unescaped as url.ParseQuery does; a
// value that does not unescape is returned as it is.
func Get(raw, key string) (string, bool) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if u, err := url.QueryUnescape(k); err == nil {
				k = u
			}
		}
		if k != key {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, true
		}
		if u, err := url.QueryUnescape(v); err == nil {
			return u, true
		}
		return v, true
	}
	return "", false
}

// Value is Get without the presence flag: "" when key is absent.
func Value(raw, key string) string {
	v, _ := Get(raw, key)
	return v
}
