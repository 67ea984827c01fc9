package longpoll

import (
	"context"
	"errors"
	"time"
)

// This file is the API other transports (the negotiate package's WebSocket
// and SSE) build on: authenticate a session, attach as its one receiver,
// keep it alive, and watch for shutdown.

// Attach makes the caller the session's one receiver: the held poll or
// stream that delivers its events. An earlier receiver is told to stop
// through its own Done channel. Call Detach when the receiver stops.
//
// With a shared store, an older receiver on any instance ends too. Should
// the store be unreachable, the receiver still starts: its reads fail the
// same way and end it with a retry hint.
//
// A receiver attached while the Server is closing, or to a session that
// has ended, comes back already Done (Why says which): receivers need not
// watch for either themselves.
//
// Attach does not say which transport the receiver runs on: the Observer
// sees it as TransportOther. Transports call AttachTransport.
func (s *Server) Attach(sess *Session) Receiver {
	return s.AttachTransport(sess, TransportOther)
}

// AttachTransport is Attach for a receiver on the named transport (one of
// the Transport constants), which the Observer's connection gauge and
// switch count and the session's log lines use.
func (s *Server) AttachTransport(sess *Session, transport string) Receiver {
	r := s.attachHere(sess, transport)
	r.hold()
	return r
}

// attachHere attaches a stream's receiver on this instance only; the
// caller calls hold.
func (s *Server) attachHere(sess *Session, transport string) Receiver {
	return s.attachEnd(sess, transport, make(doneChan))
}

// attachEnd attaches a receiver on this instance only, which the session
// ends through end. A poll that is answered at once never tells the other
// instances: it holds nothing there could be an orphan of. It calls hold
// before it waits.
func (s *Server) attachEnd(sess *Session, transport string, end receiverEnd) Receiver {
	transport = knownTransport(transport)
	s.receivers.Add(1)
	s.obs.ConnectionOpened(transport)
	prev := sess.attachEnd(end, transport)
	if prev != "" && prev != transport {
		s.obs.TransportSwitched(prev, transport)
	}
	if d, ok := end.(doneChan); ok {
		s.streams.add(d, sess)
	}
	// Close ends the streams it finds in s.streams, and a session that
	// ends ends its receiver; each sets its flag before it looks. A
	// receiver attached after either looked is ended here: a stream need
	// not watch for either on a channel of its own (see streamSet).
	if s.isClosing() || sess.Ended() {
		sess.endIfCurrent(end)
	}
	return Receiver{srv: s, sess: sess, end: end, kind: kindOf(transport)}
}

// hold announces the receiver to every instance through the shared store,
// so that an older receiver of the session held anywhere ends.
func (r Receiver) hold() {
	s := r.srv
	if s.store == nil || r.sess.reuseGen(r.end) {
		return
	}
	gen, err := s.store.Attach(context.Background(), r.sess.token, r.sess.ID)
	switch {
	case err == nil:
		r.sess.attached(r.end, gen)
	case errors.Is(err, ErrUnknownSession):
		s.dropLocal(r.sess)
	}
}

// A Receiver is a session's current poll or stream.
type Receiver struct {
	srv  *Server
	sess *Session
	end  receiverEnd // the session ends the receiver through it: a stream's is its Done channel
	kind transportKind
	// Receiver stays five words, as it was before it held its end: one
	// more, in the frames of a parked SSE stream that hold a copy, kept
	// the stream's goroutine from shrinking its stack to 8 KiB at GC, and
	// SSE's RSS per connection grew by 5 KiB (cmd/lifeline-load, N = 5 000).
}

// transportKind is a transport's name as one byte, to keep Receiver small.
type transportKind uint8

var transportNames = [...]string{TransportOther, TransportWebSocket, TransportSSE, TransportLongPoll}

// kindOf returns the kind of one of knownTransport's names.
func kindOf(transport string) transportKind {
	for i, name := range transportNames {
		if name == transport {
			return transportKind(i)
		}
	}
	return 0
}

func (k transportKind) String() string { return transportNames[k] }

// transport is the receiver's transport name.
func (r Receiver) transport() string { return r.kind.String() }

// Done is closed when a newer receiver supersedes this one, or the session
// ends, including at shutdown; Why tells which.
func (r Receiver) Done() <-chan struct{} {
	d, _ := r.end.(doneChan) // nil for a held poll, which waits on its pollWaiter
	return d
}

// Why explains a closed Done channel: ErrClosed when the server is closing,
// ErrUnknownSession when the session ended, ErrSuperseded otherwise.
func (r Receiver) Why() error {
	switch {
	case r.srv.isClosing():
		return ErrClosed
	case r.sess.Ended():
		return ErrUnknownSession
	default:
		return ErrSuperseded
	}
}

// Detach unregisters the receiver and marks the session seen.
func (r Receiver) Detach() {
	r.sess.detach(r.end)
	if d, ok := r.end.(doneChan); ok {
		r.srv.streams.remove(d)
	}
	r.srv.receivers.Add(-1)
	r.srv.obs.ConnectionClosed(r.transport())
	r.srv.touch(r.sess)
}

// Delivered reports events written to the receiver's connection, right
// after the write, so that the Observer can time each from its append.
func (r Receiver) Delivered(events []*Event) {
	r.srv.obs.EventsDelivered(r.transport(), events)
}

// ResetSent reports a reset written to the receiver's connection (b is the
// read that reset): counted and logged by its cause.
func (r Receiver) ResetSent(b Batch) {
	r.srv.resetSent(r.sess.ID, r.transport(), b.Cause)
}

// SlowConsumer reports the receiver's connection dropped because its client
// stopped reading: counted and logged.
func (r Receiver) SlowConsumer() {
	r.srv.obs.SlowConsumer(r.transport())
	r.srv.cfg.Logger.Warn("lifeline: dropped a slow consumer", "client", r.sess.ID, "transport", r.transport())
}

// Touch marks a session seen now. Streams call it on each heartbeat so that
// a session with an open stream never expires.
func (s *Server) Touch(sess *Session) { s.touch(sess) }

// Closing returns a channel closed when Close begins: receivers end with a
// reconnect hint when it is. Receivers need not wait on it (their Done
// channel is closed too); one that every stream waits on would make each
// wake-up of a fan-out contend for its lock.
func (s *Server) Closing() <-chan struct{} { return s.life.Done() }

// ServerStats is a snapshot of a Server's load.
type ServerStats struct {
	// Sessions is the number of live sessions this instance holds (with a
	// shared Backend, the ones it has served lately).
	Sessions int
	// Receivers is the number of held polls and open streams, counted
	// from the moment they attach.
	Receivers int
	// HeldPolls is the number of long-polls waiting for an event or their
	// timeout: past their first read and, with a shared Backend, past
	// announcing themselves to the other instances. A held poll costs the
	// Backend nothing until it wakes.
	HeldPolls int
}

// Stats returns a snapshot of the Server's load.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Sessions:  s.sessions.count(),
		Receivers: int(s.receivers.Load()),
		HeldPolls: int(s.heldPolls.Load()),
	}
}

// ShutdownRetryAfter is the reconnect delay a closing Server advises.
const ShutdownRetryAfter = time.Second
