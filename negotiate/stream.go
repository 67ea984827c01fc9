package negotiate

import (
	"context"
	"errors"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A sink is one streaming transport's way of writing to its client. Every
// method runs on the stream's goroutine: the request's for SSE, its own
// for WebSocket.
type sink interface {
	events(events []*longpoll.Event) error
	reset(head longpoll.Cursor) error
	heartbeat() error
}

// A frameHandler handles the frames a client sends up its stream.
type frameHandler interface {
	frame(frame []byte) error
}

// Why a stream ended.
var (
	errRecycle  = errors.New("negotiate: stream recycled")
	errPeerGone = errors.New("negotiate: peer gone")
)

// A stream delivers a session's events from a cursor to a sink until it is
// superseded, the server closes, the client goes away, the sink fails, or
// maxAge passes. WebSocket passes its incoming frames in through inbox so
// that they are handled on the same goroutine as everything else: the
// stream's *gin.Context never leaves it.
//
// Everything the stream needs between two wake-ups is here rather than in
// local variables, and only run's and wait's small frames are live while
// the stream is parked: a WebSocket stream's goroutine then parks with
// little enough of its stack in use for the runtime to halve it at GC,
// from 8 to 4 KiB, which it does only when less than a quarter is in use,
// an 800-byte guard included (TestParkedWebSocketStack). Both kinds are
// on the heap (wsStream, sseStream): an SSE stream's request goroutine,
// whose net/http frames keep its stack at 8 KiB at least, must still
// shrink back from 16 KiB (TestParkedSSEStackShrinks).
type stream struct {
	lp        *longpoll.Server
	sess      *longpoll.Session
	cursor    longpoll.Cursor
	heartbeat time.Duration
	// probe, when positive, is when the sink's probe frame goes out (a
	// heartbeat for sinks without one), whatever else was written: the
	// second frame SSE clients time (ProbeDelay).
	probe  time.Duration
	maxAge time.Duration // zero: no limit

	// ctx bounds the stream's reads of the buffer. SSE's is its request's,
	// and its end ends the stream: the client went. A WebSocket's is the
	// Server's (its request ended with the upgrade), which the stream does
	// not wait on: Close ends it through its receiver.
	ctx      context.Context
	out      sink
	receiver longpoll.Receiver // attached before the client was told the stream is open
	inbox    chan []byte       // WebSocket's reader's (the stream only receives); nil for SSE
	frames   frameHandler      // handles each inbox frame

	// What start sets up and stop tears down.
	sub         longpoll.Subscription
	hb          *time.Timer
	probeTimer  *time.Timer // nil once the probe went out, or without one
	expireTimer *time.Timer // nil without maxAge
	// lastWrite is when the stream last wrote events or a reset, on the
	// streamClock; zero until it first does. Heartbeats and the probe do
	// not count: an event after them is not held by the pacer, and a
	// heartbeat sent early does no harm.
	lastWrite time.Duration
	maxBatch  int
	// pace holds the stream back while events come faster than its
	// coalescing window (nil: never); paced is the tick it waits for
	// before it delivers again, nil while it need not wait.
	pace  *pacer
	paced <-chan struct{}
	// batch is the one slice every read of the stream fills: a wake-up per
	// event then allocates nothing for its batch.
	batch []*longpoll.Event
}

// run streams until the end. The caller has attached s.receiver before
// telling the client the stream is open, so that an open stream is always
// the session's current receiver.
//
// run delivers and waits in turn. Its frame and wait's are all the stream
// has in use while it is parked: what a wake-up does happens in deliver
// and in the callees of wait's cases, whose frames are popped before the
// stream parks again.
func (s *stream) run() (err error) {
	defer s.stop(&err)
	if err = s.start(); err != nil {
		return err
	}
	for {
		if s.paced == nil {
			var more bool
			if more, err = s.deliver(); err != nil {
				return err
			}
			if more {
				continue
			}
		}
		if err = s.wait(); err != nil {
			return err
		}
	}
}

// start subscribes to the session's topics and starts the stream's timers.
func (s *stream) start() error {
	sub, err := s.lp.Buffer().Subscribe(s.sess.Topics)
	if err != nil {
		return err
	}
	s.sub = sub
	// The heartbeat timer is not reset on every write, which would cost a
	// timer update per event: when it fires, it sends a heartbeat only if
	// nothing was written for a whole interval, and otherwise waits out
	// the rest of the interval since the last write.
	s.hb = time.NewTimer(s.heartbeat)
	if s.probe > 0 {
		s.probeTimer = time.NewTimer(s.probe)
	}
	if s.maxAge > 0 {
		s.expireTimer = time.NewTimer(s.maxAge)
	}
	s.maxBatch = s.lp.Config().MaxBatch
	return nil
}

// stop undoes what start did, and reports a slow consumer when the stream
// ended with *err because its client stopped reading.
func (s *stream) stop(err *error) {
	if s.sub != nil {
		s.sub.Close()
	}
	if s.hb != nil {
		s.hb.Stop()
	}
	if s.probeTimer != nil {
		s.probeTimer.Stop()
	}
	if s.expireTimer != nil {
		s.expireTimer.Stop()
	}
	if slowConsumer(*err) {
		s.receiver.SlowConsumer()
	}
}

// deliver writes what the buffer holds after the stream's cursor, up to a
// batch, and reports whether more is waiting.
func (s *stream) deliver() (more bool, err error) {
	b, err := longpoll.ReadSubscribed(s.ctx, s.lp.Buffer(), s.sub, s.batch, s.sess.Topics, s.cursor, s.maxBatch)
	if err != nil {
		return false, err
	}
	switch {
	case b.Reset:
		if err = s.out.reset(b.Cursor); err == nil {
			s.receiver.ResetSent(b)
		}
	case len(b.Events) > 0:
		if err = s.out.events(b.Events); err == nil {
			s.receiver.Delivered(b.Events)
		}
	}
	clear(b.Events) // written: hold no event the buffer may evict
	s.batch = b.Events[:0]
	if err != nil {
		return false, err
	}
	s.cursor = b.Cursor
	s.lp.Touch(s.sess)
	if b.Reset || len(b.Events) > 0 {
		s.lastWrite = streamClock()
	}
	return b.More, nil
}

// wait parks until something needs the stream: an append to its topics
// or, while the stream is paced, its pacer's tick (nil: deliver next,
// unless the append found it paced), a client frame, a timer, or its end
// (the error it ends with). The work of each case is in a function of
// its own, whose frame is not part of wait's, live while the stream is
// parked (only handleFrame is small enough to be inlined: it adds an
// interface call).
func (s *stream) wait() error {
	var probe, expire <-chan time.Time
	if s.probeTimer != nil {
		probe = s.probeTimer.C
	}
	if s.expireTimer != nil {
		expire = s.expireTimer.C
	}
	// Shutdown needs no case of its own: Close ends every stream's
	// receiver (longpoll.Server.Close), and a channel all streams share
	// would make every wake-up of a fan-out contend for its lock. So a
	// WebSocket stream, whose context is the Server's (longpoll.Server.Go
	// passes the context Closing is the Done channel of), waits on no
	// context; an SSE stream waits on its request's, which ends when the
	// client goes.
	gone := s.ctx.Done()
	if gone == s.lp.Closing() {
		gone = nil
	}
	appended := s.sub.C()
	if s.paced != nil {
		// Appends wait with the subscription's signal, which stays
		// pending, until the tick.
		appended = nil
	}
	select {
	case <-appended:
		s.holdIfPaced()
		return nil
	case <-s.paced:
		s.ticked()
		return nil
	case frame, ok := <-s.inbox:
		return s.handleFrame(frame, ok)
	case <-s.hb.C:
		return s.heartbeatDue()
	case <-probe:
		return s.sendProbe()
	case <-expire:
		return errRecycle
	case <-s.done():
		return s.why()
	case <-gone:
		return s.ctxEnded()
	}
}

// holdIfPaced makes the stream wait for its pacer's tick before it
// delivers, when it wrote less than a coalescing window ago: the events
// that arrive meanwhile then go out in one write. Not inlined, so that its
// locals stay out of wait's frame.
//
//go:noinline
func (s *stream) holdIfPaced() {
	if s.pace.holds(s.lastWrite, streamClock()) {
		s.paced = s.pace.tick()
	}
}

// ticked ends the wait for the pacer's tick. The appends that came during
// it left their signal pending; the delivery that follows reads them all,
// so the signal is spent: taken now, it would hold the stream for one more
// tick only to read nothing. Not inlined, as holdIfPaced.
//
//go:noinline
func (s *stream) ticked() {
	s.paced = nil
	select {
	case <-s.sub.C():
	default:
	}
}

// ctxEnded is why the stream's context ended: the Server closing (a
// WebSocket's context is the Server's), or else the client going (SSE's
// is its request's).
func (s *stream) ctxEnded() error {
	select {
	case <-s.lp.Closing():
		return longpoll.ErrClosed
	default:
		return errPeerGone
	}
}

// done is the receiver's Done channel, and why the reason it gives when
// Done is closed. Not inlined: a Receiver's methods take it by value, and
// inlined in wait they would copy its five words into wait's frame, which
// is live while the stream is parked.
//
//go:noinline
func (s *stream) done() <-chan struct{} { return s.receiver.Done() }

//go:noinline
func (s *stream) why() error { return s.receiver.Why() }

// handleFrame hands a client frame to the stream's frame handler; ok false
// says the client's frames ended.
func (s *stream) handleFrame(frame []byte, ok bool) error {
	if !ok {
		return errPeerGone
	}
	return s.frames.frame(frame)
}

// heartbeatDue sends a heartbeat if no event was written for a whole
// interval, and rearms the heartbeat timer: after a heartbeat, for a whole
// interval, so that a silent stream gets one per interval.
func (s *stream) heartbeatDue() error {
	if quiet := streamClock() - s.lastWrite; s.lastWrite != 0 && quiet < s.heartbeat {
		s.hb.Reset(s.heartbeat - quiet)
		return nil
	}
	if err := s.out.heartbeat(); err != nil {
		return err
	}
	s.hb.Reset(s.heartbeat)
	return nil
}

// sendProbe sends the probe, once.
func (s *stream) sendProbe() error {
	s.probeTimer = nil // fired: nothing to stop
	return probeOf(s.out)()
}

// A prober is a sink with a frame of its own for the probe.
type prober interface{ probe() error }

// probeOf is what out sends as its probe.
func probeOf(out sink) func() error {
	if p, ok := out.(prober); ok {
		return p.probe
	}
	return out.heartbeat
}

// slowConsumer reports whether a stream ended because a write missed its
// deadline: its client stopped reading. WebSocket says so with errSlow; SSE
// gets the connection's timeout error.
func slowConsumer(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.Is(err, errSlow) || errors.As(err, &timeout) && timeout.Timeout()
}
