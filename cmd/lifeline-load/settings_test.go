package main

import (
	"flag"
	"io"
	"testing"
	"time"
)

// A server child gets the settings the run was given.
func TestServerSettingsReachTheChild(t *testing.T) {
	for _, want := range []serverSettings{
		{},
		{Presence: true},
		{Coalesce: -1},
		{Coalesce: 5 * time.Millisecond, CentrifugeWriteDelay: 20 * time.Millisecond},
	} {
		fs := flag.NewFlagSet("child", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var got serverSettings
		got.flags(fs)
		if err := fs.Parse(want.args()); err != nil {
			t.Fatalf("%+v: the child refused %q: %v", want, want.args(), err)
		}
		if got != want {
			t.Errorf("the child got %+v from %q, want %+v", got, want.args(), want)
		}
	}
}
