package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// sfItem is one member of a structured-field List whose bare item is a
// String and whose parameters are Integers: the only shape this package
// emits.
type sfItem struct {
	name   string
	params map[string]int64
	order  []string
}

// parseSFList parses such a List (RFC 9651 §4.2.1), strictly.
func parseSFList(s string) ([]sfItem, error) {
	var items []sfItem
	i := 0
	skipSP := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	for {
		var it sfItem
		if i >= len(s) || s[i] != '"' {
			return nil, errors.New("want a String")
		}
		i++
		var name []byte
		for {
			if i >= len(s) {
				return nil, errors.New("unterminated String")
			}
			c := s[i]
			i++
			if c == '"' {
				break
			}
			if c == '\\' {
				if i >= len(s) || (s[i] != '"' && s[i] != '\\') {
					return nil, errors.New("bad escape")
				}
				c = s[i]
				i++
			} else if c < 0x20 || c > 0x7e {
				return nil, errors.New("bad String character")
			}
			name = append(name, c)
		}
		it.name = string(name)
		it.params = map[string]int64{}
		for i < len(s) && s[i] == ';' {
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			start := i
			for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9' || s[i] == '_' || s[i] == '-' || s[i] == '.' || s[i] == '*') {
				i++
			}
			key := s[start:i]
			if key == "" || key[0] < 'a' || key[0] > 'z' {
				return nil, errors.New("bad parameter key")
			}
			if i >= len(s) || s[i] != '=' {
				return nil, errors.New("want an Integer parameter")
			}
			i++
			start = i
			if i < len(s) && s[i] == '-' {
				i++
			}
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			digits := s[start:i]
			if len(digits) == 0 || digits == "-" || len(digits) > 16 || (digits[0] != '-' && len(digits) > 15) {
				return nil, errors.New("bad Integer")
			}
			n, err := strconv.ParseInt(digits, 10, 64)
			if err != nil {
				return nil, err
			}
			if _, dup := it.params[key]; !dup {
				it.order = append(it.order, key)
			}
			it.params[key] = n
		}
		items = append(items, it)
		skipSP()
		if i == len(s) {
			return items, nil
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("unexpected %q", s[i])
		}
		i++
		skipSP()
		if i == len(s) {
			return nil, errors.New("trailing comma")
		}
	}
}

func TestFieldSyntax(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{string(appendPolicy(nil, "default", 100, 60)), `"default";q=100;w=60`},
		{string(appendRateLimit(nil, "default", 50, 30)), `"default";r=50;t=30`},
		{string(appendPolicy(nil, `a"b\c`, 1, 1)), `"a\"b\\c";q=1;w=1`},
		{string(appendRateLimit(nil, "x", -5, 1<<62)), `"x";r=0;t=999999999999999`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

func TestPolicyWindow(t *testing.T) {
	cases := []struct {
		limit  int
		period string
		burst  int
		want   int64
	}{
		{100, "1m", 100, 60},
		{10, "1s", 20, 2},
		{30, "1s", 20, 1}, // 0.67 s rounds up to 1
		{1, "1h", 1, 3600},
		{1000, "1s", 1, 1}, // never 0
	}
	for _, c := range cases {
		cfg := Config{Limit: c.limit, Burst: c.burst}
		cfg.Period, _ = time.ParseDuration(c.period)
		if got := policyWindow(testLimiter(cfg)); got != c.want {
			t.Errorf("%d per %s, burst %d: w = %d, want %d", c.limit, c.period, c.burst, got, c.want)
		}
	}
}

func FuzzFieldRoundTrip(f *testing.F) {
	f.Add("default", int64(100), int64(60))
	f.Add(`quo"te\slash`, int64(0), int64(1))
	f.Add(" spaced name ", int64(-1), int64(1<<62))
	f.Add("", int64(999_999_999_999_999), int64(1_000_000_000_000_000))
	f.Fuzz(func(t *testing.T, name string, a, b int64) {
		if (Config{KeyFunc: ClientAddr(), Policy: name}).Validate() != nil {
			return // names New refuses are never emitted
		}
		for field, v := range map[string][]byte{
			"RateLimit-Policy": appendPolicy(nil, name, a, b),
			"RateLimit":        appendRateLimit(nil, name, a, b),
		} {
			items, err := parseSFList(string(v))
			if err != nil {
				t.Fatalf("%s %s does not parse: %v", field, v, err)
			}
			if len(items) != 1 || items[0].name != name {
				t.Fatalf("%s %s parsed as %+v, want one item named %q", field, v, items, name)
			}
			keys := []string{"q", "w"}
			if field == "RateLimit" {
				keys = []string{"r", "t"}
			}
			it := items[0]
			if fmt.Sprint(it.order) != fmt.Sprint(keys) || it.params[keys[0]] != clampSF(a) || it.params[keys[1]] != clampSF(b) {
				t.Fatalf("%s %s parsed as %v, want %s=%d, %s=%d", field, v, it.params, keys[0], clampSF(a), keys[1], clampSF(b))
			}
		}
	})
}

// The memo returns the same value for the same pair, and the right value
// after a collision evicts an entry.
func TestMemo(t *testing.T) {
	built := 0
	m := newMemo(2, func(a, b int64) string {
		built++
		return fmt.Sprint(a, "/", b)
	})
	for range 3 {
		for a := range int64(4) {
			if got, want := m.get(a, a+1), fmt.Sprint(a, "/", a+1); got != want {
				t.Fatalf("get(%d, %d) = %q, want %q", a, a+1, got, want)
			}
		}
	}
	if built < 4 {
		t.Errorf("built %d values for 4 distinct pairs", built)
	}
}
