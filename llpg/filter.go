package llpg

import (
	"fmt"
	"strconv"
	"strings"
)

// A filter is a parsed Table.Filter: one column compared with constants.
// Values are compared as Postgres prints them (the replication stream's
// text format): numerically when both sides parse as numbers, else as
// strings.
type filter struct {
	column string
	op     string
	values []string
}

// filterOps are the comparison operators of PostgREST that a filter takes.
var filterOps = map[string]bool{"eq": true, "neq": true, "lt": true, "lte": true, "gt": true, "gte": true, "in": true}

// parseFilter parses "column=op.value" or "column=in.(a,b)"; an empty
// string is no filter (nil).
func parseFilter(s string) (*filter, error) {
	if s == "" {
		return nil, nil
	}
	column, rest, ok := strings.Cut(s, "=")
	if !ok || column == "" {
		return nil, fmt.Errorf("%w %q: want column=op.value", ErrBadFilter, s)
	}
	op, value, ok := strings.Cut(rest, ".")
	if !ok || !filterOps[op] {
		return nil, fmt.Errorf("%w %q: want an operator among eq, neq, lt, lte, gt, gte, in", ErrBadFilter, s)
	}
	f := &filter{column: column, op: op}
	if op != "in" {
		f.values = []string{value}
		return f, nil
	}
	inner, ok := strings.CutPrefix(value, "(")
	if inner, ok = strings.CutSuffix(inner, ")"); !ok || inner == "" {
		return nil, fmt.Errorf("%w %q: want in.(a,b,...)", ErrBadFilter, s)
	}
	f.values = strings.Split(inner, ",")
	return f, nil
}

// String returns the filter in the syntax parseFilter reads.
func (f *filter) String() string {
	if f.op == "in" {
		return f.column + "=in.(" + strings.Join(f.values, ",") + ")"
	}
	return f.column + "=" + f.op + "." + f.values[0]
}

// match reports whether a row's text values pass the filter. A row
// without the column, or with it NULL, never matches.
func (f *filter) match(text map[string]*string) bool {
	v, ok := text[f.column]
	if !ok || v == nil {
		return false
	}
	for _, want := range f.values {
		c := compare(*v, want)
		var hit bool
		switch f.op {
		case "eq", "in":
			hit = c == 0
		case "neq":
			hit = c != 0
		case "lt":
			hit = c < 0
		case "lte":
			hit = c <= 0
		case "gt":
			hit = c > 0
		case "gte":
			hit = c >= 0
		}
		if hit {
			return true
		}
	}
	return false
}

// compare orders two values numerically when both are numbers, else as
// strings.
func compare(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
