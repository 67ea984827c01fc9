package negotiate

import (
	"testing"
	"time"
)

// A stream's write deadline moves on only once an eighth of the timeout
// has been used up, and every write still gets at least 7/8 of it.
func TestWriteDeadlineMovesCoarsely(t *testing.T) {
	const timeout = 8 * time.Second
	var d writeDeadline
	t0 := time.Unix(1000, 0)
	at, moved := d.next(t0, timeout)
	if !moved || !at.Equal(t0.Add(timeout)) {
		t.Fatalf("first write: deadline %v moved %v, want %v and moved", at, moved, t0.Add(timeout))
	}
	for _, dt := range []time.Duration{0, time.Millisecond, 999 * time.Millisecond} {
		if at, moved := d.next(t0.Add(dt), timeout); moved || !at.Equal(t0.Add(timeout)) {
			t.Errorf("write %v later: deadline %v moved %v, want it kept", dt, at, moved)
		}
	}
	now := t0.Add(time.Second) // an eighth used up
	if at, moved := d.next(now, timeout); !moved || !at.Equal(now.Add(timeout)) {
		t.Errorf("write 1s later: deadline %v moved %v, want %v and moved", at, moved, now.Add(timeout))
	}
	for dt := time.Second; dt < 20*time.Second; dt += 250 * time.Millisecond { // time moves forward
		now := t0.Add(dt)
		at, _ := d.next(now, timeout)
		if left := at.Sub(now); left < timeout-timeout/deadlineSlack || left > timeout {
			t.Fatalf("write at %v: %v left before the deadline, want between 7/8 of %v and all of it", dt, left, timeout)
		}
	}
}
