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

	inbox   <-chan []byte      // nil for SSE
	onFrame func([]byte) error // handles one inbox frame
}

// run streams until the end. The caller has attached receiver before
// telling the client the stream is open, so that an open stream is always
// the session's current receiver.
func (s *stream) run(ctx context.Context, out sink, receiver longpoll.Receiver) (err error) {
	defer func() {
		if slowConsumer(err) {
			receiver.SlowConsumer()
		}
	}()
	buf := s.lp.Buffer()
	sub, err := buf.Subscribe(s.sess.Topics)
	if err != nil {
		return err
	}
	defer sub.Close()

	// The heartbeat timer is not reset on every write, which would cost a
	// timer update per event: when it fires, it sends a heartbeat only if
	// nothing was written for a whole interval, and otherwise waits out
	// the rest of the interval since the last write.
	hb := time.NewTimer(s.heartbeat)
	defer hb.Stop()
	var probe <-chan time.Time
	if s.probe > 0 {
		t := time.NewTimer(s.probe)
		defer t.Stop()
		probe = t.C
	}
	lastWrite := time.Now()
	var expire <-chan time.Time
	if s.maxAge > 0 {
		t := time.NewTimer(s.maxAge)
		defer t.Stop()
		expire = t.C
	}
	maxBatch := s.lp.Config().MaxBatch
	// One slice for every read of the stream: a wake-up per event then
	// allocates nothing for its batch.
	var batch []*longpoll.Event
	for {
		b, err := longpoll.ReadInto(ctx, buf, batch, s.sess.Topics, s.cursor, maxBatch)
		if err != nil {
			return err
		}
		switch {
		case b.Reset:
			if err = out.reset(b.Cursor); err == nil {
				receiver.ResetSent(b)
			}
		case len(b.Events) > 0:
			if err = out.events(b.Events); err == nil {
				receiver.Delivered(b.Events)
			}
		}
		clear(b.Events) // written: hold no event the buffer may evict
		batch = b.Events[:0]
		if err != nil {
			return err
		}
		wrote := b.Reset || len(b.Events) > 0
		s.cursor = b.Cursor
		s.lp.Touch(s.sess)
		if wrote {
			lastWrite = time.Now()
		}
		if b.More {
			continue
		}
		select {
		case <-sub.C():
		case frame, ok := <-s.inbox:
			if !ok {
				return errPeerGone
			}
			if err := s.onFrame(frame); err != nil {
				return err
			}
		case <-hb.C:
			if quiet := time.Since(lastWrite); quiet < s.heartbeat {
				hb.Reset(s.heartbeat - quiet)
				continue
			}
			if err := out.heartbeat(); err != nil {
				return err
			}
			lastWrite = time.Now()
			hb.Reset(s.heartbeat)
		case <-probe:
			probe = nil
			if err := probeOf(out)(); err != nil {
				return err
			}
			lastWrite = time.Now()
		case <-expire:
			return errRecycle
		case <-receiver.Done():
			return receiver.Why()
		case <-s.lp.Closing():
			// Close ends the receivers it lists; this ends a stream that
			// attached after Close took its list.
			return longpoll.ErrClosed
		case <-ctx.Done():
			return errPeerGone
		}
	}
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
