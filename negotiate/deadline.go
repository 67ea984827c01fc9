package negotiate

import "time"

// deadlineSlack is how much of a write timeout a stream's deadline may have
// used up before a write moves it on: a write then gets between 7/8 of the
// timeout and all of it. Moving a deadline costs a runtime timer update,
// which a stream writing every event to thousands of connections would
// otherwise pay once per event per connection.
const deadlineSlack = 8

// A writeDeadline is the write deadline of one stream's connection, moved
// on coarsely. Only the stream's goroutine uses it.
type writeDeadline struct {
	at time.Time // the deadline last set; zero: none yet
}

// next returns the deadline that a write starting at now, with timeout,
// should have, and whether it differs from the one set last (and so must
// be set).
func (d *writeDeadline) next(now time.Time, timeout time.Duration) (time.Time, bool) {
	if !d.at.IsZero() && d.at.Sub(now) > timeout-timeout/deadlineSlack {
		return d.at, false
	}
	d.at = now.Add(timeout)
	return d.at, true
}
