package llpg

import "errors"

// Sentinel errors.
var (
	// ErrConfig reports a Config that cannot work: no connection string,
	// no target, no tables, a table without a name or topic, a bad filter
	// or slot name.
	ErrConfig = errors.New("llpg: invalid config")

	// ErrBadFilter reports a Table.Filter that does not parse.
	ErrBadFilter = errors.New("llpg: invalid filter")

	// ErrNotLogical reports a server whose wal_level is not logical: it
	// must be set (and the server restarted) before Install.
	ErrNotLogical = errors.New("llpg: wal_level is not logical")

	// ErrClosed reports use of a Relay after Close.
	ErrClosed = errors.New("llpg: relay closed")
)
