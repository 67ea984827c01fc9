package negotiate

import (
	"context"
	"errors"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A sink is one streaming transport's way of writing to its client. Every
// method runs on the request's goroutine.
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
// that they are handled on the same goroutine, the request's, as everything
// else: the *gin.Context never leaves it.
type stream struct {
	lp        *longpoll.Server
	sess      *longpoll.Session
	cursor    longpoll.Cursor
	heartbeat time.Duration
	maxAge    time.Duration // zero: no limit

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

	hb := time.NewTimer(s.heartbeat)
	defer hb.Stop()
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
			resetTimer(hb, s.heartbeat)
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
			if err := out.heartbeat(); err != nil {
				return err
			}
			hb.Reset(s.heartbeat)
		case <-expire:
			return errRecycle
		case <-receiver.Done():
			return receiver.Why()
		case <-ctx.Done():
			return errPeerGone
		}
	}
}

// resetTimer restarts t for d whether or not it fired.
func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	t.Reset(d)
}

// slowConsumer reports whether a stream ended because a write missed its
// deadline: its client stopped reading. WebSocket says so with errSlow; SSE
// gets the connection's timeout error.
func slowConsumer(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.Is(err, errSlow) || errors.As(err, &timeout) && timeout.Timeout()
}
