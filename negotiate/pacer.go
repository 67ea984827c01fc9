package negotiate

import (
	"sync"
	"sync/atomic"
	"time"
)

// A pacer holds back the streams that wrote too recently to write again
// (Config.CoalesceWindow) and lets them go together at its next tick, so
// that each writes everything that arrived meanwhile at once.
//
// The tick is shared rather than a timer per stream: a waiting stream
// costs no timer and no allocation, only its place on the one channel the
// tick closes. Ticks run only while a stream waits: the first stream to
// wait after a tick arms the next.
type pacer struct {
	window time.Duration
	// schedule runs f once d has passed: time.AfterFunc, or a test's
	// hand-fired ticks.
	schedule func(d time.Duration, f func())

	next atomic.Pointer[chan struct{}] // closed at the next tick; nil while nobody waits
	mu   sync.Mutex                    // arms the tick: one stream makes the channel and schedules fire
}

// newPacer returns the pacer for window, or nil, which paces nothing, when
// window is negative (coalescing off).
func newPacer(window time.Duration) *pacer {
	if window < 0 {
		return nil
	}
	return &pacer{window: window, schedule: afterFunc}
}

// afterFunc is time.AfterFunc without its result: a tick is never
// canceled, as it is armed only for a stream that waits, and firing after
// that stream ended costs one closed channel.
func afterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// holds reports whether a stream whose last write was at lastWrite (on
// the streamClock; zero: never) must wait for the next tick before it
// writes again.
func (p *pacer) holds(lastWrite, now time.Duration) bool {
	return p != nil && lastWrite != 0 && now-lastWrite < p.window
}

// tick returns a channel closed at the next tick, at most a window from
// now.
func (p *pacer) tick() <-chan struct{} {
	if c := p.next.Load(); c != nil {
		return *c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.next.Load(); c != nil {
		return *c
	}
	c := make(chan struct{})
	p.next.Store(&c)
	p.schedule(p.window, p.fire)
	return c
}

// fire lets every waiting stream go.
func (p *pacer) fire() {
	p.mu.Lock()
	c := p.next.Swap(nil)
	p.mu.Unlock()
	if c != nil {
		close(*c)
	}
}

// streamEpoch and streamClock: a stream's write times as monotonic
// durations, one word each rather than a time.Time's three: the state of
// every open WebSocket stream is on the heap (TestWSStreamStaysInItsSizeClass).
var streamEpoch = time.Now()

// streamClock is the time since streamEpoch: never zero once a stream
// runs, so zero can mean "never".
func streamClock() time.Duration { return time.Since(streamEpoch) + 1 }
