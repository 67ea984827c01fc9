package longpoll

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/rawquery"
)

// session authenticates the request by its Lifeline-Token header.
func (s *Server) session(c *gin.Context) (*Session, error) {
	return s.Authenticate(c.GetHeader(TokenHeader))
}

// PollHandler returns the long-poll handler (PROTOCOL.md §5):
// GET with "cursor" and an optional "timeout" in milliseconds.
//
// Events after the cursor are answered at once; otherwise the request is
// held until an event arrives, the timeout passes, a newer poll from the
// same session supersedes it, the client goes away, or the Server closes.
// Everything runs on the request's goroutine.
func (s *Server) PollHandler() gin.HandlerFunc {
	return s.poll
}

func (s *Server) poll(c *gin.Context) {
	sess, err := s.session(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	query := c.Request.URL.RawQuery
	cursor, err := ParseCursor(rawquery.Value(query, "cursor"))
	if err != nil {
		WriteError(c, err)
		return
	}
	timeout, err := s.pollTimeout(rawquery.Value(query, "timeout"))
	if err != nil {
		problemBadTimeout(c, err)
		return
	}
	if err := s.pollBlocked(sess); err != nil {
		WriteError(c, err)
		return
	}
	answered := false // with events; anything else brought nothing new
	if s.limits.idle != nil {
		defer func() {
			if !answered || s.repeated(sess, cursor) {
				s.chargeIdlePoll(sess)
			}
		}()
	}
	// Subscribe before the first read so that nothing appended between the
	// read and the wait goes unnoticed.
	sub, err := subscribePoll(s.buf, sess.Topics)
	if err != nil {
		WriteError(c, err)
		return
	}
	w, subC := getPollWaiter(sub)
	receiver := s.attachEnd(sess, TransportLongPoll, w)
	queued := false // in s.deadlines
	defer func() {
		receiver.Detach()
		if queued {
			s.deadlines.remove(w)
			s.heldPolls.Add(-1)
		}
		putPollWaiter(w)         // nothing signals it any more
		recycleSubscription(sub) // nor its channel
	}()

	ctx := c.Request.Context()
	woken := false // by a signal, since the last read
	for {
		// A pooled slice for the batch, taken only while reading and
		// answering: a held poll keeps none.
		batch := batchSlices.get()
		b, err := ReadSubscribed(ctx, s.buf, sub, *batch, sess.Topics, cursor, s.cfg.MaxBatch)
		if cap(b.Events) > 0 {
			*batch = b.Events[:0]
		}
		if err != nil {
			batchSlices.put(batch)
			WriteError(c, err)
			return
		}
		if len(b.Events) > 0 || b.Reset {
			answered = true
			writeBatch(c, b, outcomeEvents)
			if b.Reset {
				receiver.ResetSent(b)
			} else {
				receiver.Delivered(b.Events)
			}
			batchSlices.put(batch)
			return
		}
		batchSlices.put(batch)
		if woken {
			// Woken for nothing (an event already read, or gone). The
			// signal may have unregistered the subscription: register
			// again, and if so read once more, as an append before that
			// signalled nobody.
			woken = false
			if resubscribePoll(s.buf, sub) {
				continue
			}
		}
		if !queued {
			if timeout == 0 {
				writeBatch(c, b, outcomeEvents)
				return
			}
			receiver.hold() // about to wait: end an older receiver anywhere
			s.deadlines.add(w, timeout)
			queued = true
			s.heldPolls.Add(1)
		}
		select {
		case <-w.ch:
		case <-subC: // nil, never ready, unless the Buffer's subscription is foreign
		case <-ctx.Done():
			c.Abort()
			return
		}
		switch w.reason.Load() {
		case wokeTimeout:
			writeBatch(c, Batch{Cursor: cursor}, outcomeEvents)
			return
		case wokeEnded:
			if why := receiver.Why(); why != ErrSuperseded {
				WriteError(c, why) // shutdown (503) or the session ended (401)
			} else {
				writeBatch(c, Batch{Cursor: cursor}, outcomeSuperseded)
			}
			return
		}
		woken = true // something may have been appended: read again
	}
}

// pollTimeout parses the "timeout" query: milliseconds, capped at the
// configured poll timeout, which is also the default.
func (s *Server) pollTimeout(q string) (time.Duration, error) {
	if q == "" {
		return s.cfg.PollTimeout, nil
	}
	ms, err := strconv.ParseUint(q, 10, 64)
	var tooBig *strconv.NumError
	if errors.As(err, &tooBig) && tooBig.Err == strconv.ErrRange {
		return s.cfg.PollTimeout, nil // any number of digits is a valid request; it is capped
	}
	if err != nil {
		return 0, fmt.Errorf("timeout %q is not a whole number of milliseconds", q)
	}
	// Compared in milliseconds, before converting, so that no value overflows.
	if ms >= uint64(s.cfg.PollTimeout.Milliseconds()) {
		return s.cfg.PollTimeout, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// repeated records that a poll from cursor was answered with events, and
// reports whether the previous one was answered from the same cursor: a
// client that does not move on is replaying, not receiving.
func (s *Server) repeated(sess *Session, cursor Cursor) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	same := sess.lastAnswered == cursor
	sess.lastAnswered = cursor
	return same
}
