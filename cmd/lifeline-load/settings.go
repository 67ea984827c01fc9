package main

import (
	"flag"
	"time"

	"github.com/lifeline-go/lifeline/negotiate"
)

// serverSettings are the settings of the servers under test that a run
// may change; everything else is fixed (lifeline.go, centrifuge.go).
type serverSettings struct {
	// Presence keeps Lifeline's presence on.
	Presence bool `json:"presence"`
	// Coalesce is Lifeline's negotiate.Config.CoalesceWindow: 0 for its
	// default, negative for off.
	Coalesce time.Duration `json:"coalesceWindow"`
	// CentrifugeWriteDelay is centrifuge's ConnectReply.WriteDelay: 0, its
	// default, writes each message at once.
	CentrifugeWriteDelay time.Duration `json:"centrifugeWriteDelay"`
}

// flags defines the settings' flags, on the command line and, as args
// writes them, on a server child's.
func (s *serverSettings) flags(fs *flag.FlagSet) {
	fs.BoolVar(&s.Presence, "presence", false, "keep Lifeline's presence on (off by default so joins do not flood the topic)")
	fs.DurationVar(&s.Coalesce, "coalesce", 0, "Lifeline's negotiate.Config.CoalesceWindow for its streams: 0 for its default ("+
		negotiate.DefaultCoalesceWindow.String()+"), negative for off")
	fs.DurationVar(&s.CentrifugeWriteDelay, "centrifuge-write-delay", 0, "centrifuge's ConnectReply.WriteDelay: 0, its default, writes each message at once")
}

// args are the -serve flags that carry s to a server child.
func (s serverSettings) args() []string {
	var args []string
	if s.Presence {
		args = append(args, "-presence")
	}
	if s.Coalesce != 0 {
		args = append(args, "-coalesce", s.Coalesce.String())
	}
	if s.CentrifugeWriteDelay != 0 {
		args = append(args, "-centrifuge-write-delay", s.CentrifugeWriteDelay.String())
	}
	return args
}

// lifelineNote and centrifugeNote say, for the report, how each server's
// stream writes were set.
func (s serverSettings) lifelineNote() string {
	switch {
	case s.Coalesce < 0:
		return "CoalesceWindow off"
	case s.Coalesce == 0:
		return "CoalesceWindow default (" + negotiate.DefaultCoalesceWindow.String() + ")"
	}
	return "CoalesceWindow " + s.Coalesce.String()
}

func (s serverSettings) centrifugeNote() string {
	if s.CentrifugeWriteDelay <= 0 {
		return "no WriteDelay (its default)"
	}
	return "WriteDelay " + s.CentrifugeWriteDelay.String() + " (up to 16 messages per frame, its default)"
}
