package llpg

import (
	"errors"
	"testing"
)

func TestFilterMatches(t *testing.T) {
	s := func(v string) *string { return &v }
	row := map[string]*string{"room_id": s("5"), "name": s("bob"), "gone": nil}
	for filter, want := range map[string]bool{
		"room_id=eq.5": true, "room_id=eq.05": true, "room_id=eq.6": false, "room_id=neq.6": true,
		"room_id=lt.10": true, "room_id=lte.5": true, "room_id=gt.5": false, "room_id=gte.5": true,
		"room_id=in.(1,5,9)": true, "room_id=in.(1,9)": false, "name=eq.bob": true, "name=gt.alice": true,
		"gone=eq.x": false, "missing=neq.x": false,
	} {
		f, err := parseFilter(filter)
		if err != nil {
			t.Fatalf("%s: %v", filter, err)
		}
		if got := f.match(row); got != want {
			t.Errorf("%s on %v = %v, want %v", filter, row, got, want)
		}
	}
	for _, bad := range []string{"room_id", "=eq.5", "room_id=like.5", "room_id=eq", "room_id=in.1,2", "room_id=in.()"} {
		if _, err := parseFilter(bad); !errors.Is(err, ErrBadFilter) {
			t.Errorf("parseFilter(%q) = %v, want ErrBadFilter", bad, err)
		}
	}
}

// FuzzFilter checks that parsing never panics and that a parsed filter
// prints as text that parses to the same filter.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"room_id=eq.5", "a=in.(1,2)", "x=gte.-1.5", "a=eq.b=c", "=", "a=in.(,)"} {
		f.Add(s, "5")
	}
	f.Fuzz(func(t *testing.T, s, value string) {
		flt, err := parseFilter(s)
		if err != nil || flt == nil {
			return
		}
		again, err := parseFilter(flt.String())
		if err != nil || again.String() != flt.String() {
			t.Fatalf("%q printed as %q, which parses to %v, %v", s, flt.String(), again, err)
		}
		flt.match(map[string]*string{flt.column: &value})
	})
}
