package longpoll

import (
	"errors"
	"testing"
)

func TestParseCursor(t *testing.T) {
	tests := []struct {
		in   string
		want Cursor
		ok   bool
	}{
		{"abc.0", Cursor{"abc", 0}, true},
		{"k2v9q1d0m3a8.1842", Cursor{"k2v9q1d0m3a8", 1842}, true},
		{"a.18446744073709551615", Cursor{"a", 18446744073709551615}, true},
		{"a.18446744073709551616", Cursor{}, false},
		{"", Cursor{}, false},
		{".5", Cursor{}, false},
		{"abc.", Cursor{}, false},
		{"abc", Cursor{}, false},
		{"abc.01", Cursor{}, false},
		{"abc.-1", Cursor{}, false},
		{"abc.+1", Cursor{}, false},
		{"ABC.1", Cursor{}, false},
		{"a-b.1", Cursor{}, false},
		{"abc.1.2", Cursor{}, false},
		{"abc.1 ", Cursor{}, false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.1", Cursor{}, false}, // 33-character epoch
	}
	for _, tt := range tests {
		got, err := ParseCursor(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseCursor(%q) error %v does not wrap ErrBadCursor", tt.in, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"abc.0", "k2v9q1d0m3a8.1842", "a.18446744073709551615", "", ".", "a..1", "abc.01", "\x00.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("ParseCursor(%q) error %v does not wrap ErrBadCursor", s, err)
			}
			return
		}
		// Whatever parses must print back to exactly the input: a cursor has
		// one text form, so clients may compare cursors for equality.
		if got := c.String(); got != s {
			t.Fatalf("ParseCursor(%q).String() = %q", s, got)
		}
	})
}
