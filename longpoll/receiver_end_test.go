package longpoll

import (
	"context"
	"errors"
	"testing"
)

// ended reports whether r's Done channel is closed.
func ended(r Receiver) bool {
	select {
	case <-r.Done():
		return true
	default:
		return false
	}
}

// openedSession opens a session on a new harness and returns it with its
// token.
func openedSession(t *testing.T) (*harness, *Session, string) {
	t.Helper()
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	sess, err := h.lp.Authenticate(o.Token)
	if err != nil {
		t.Fatal(err)
	}
	return h, sess, o.Token
}

// A stream that attaches to a session that has just ended is ended at
// once, as if it had attached first: nothing else would end it.
func TestAttachToEndedSessionEndsAtOnce(t *testing.T) {
	h, sess, token := openedSession(t)
	if err := h.lp.EndSession(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	r := h.lp.AttachTransport(sess, TransportWebSocket)
	defer r.Detach()
	if !ended(r) || !errors.Is(r.Why(), ErrUnknownSession) {
		t.Fatalf("receiver attached to an ended session: ended %v, why %v; want ended with ErrUnknownSession", ended(r), r.Why())
	}
}

// A stream that attaches while the Server closes is ended at once: Close
// ends the receivers it finds, and streams do not watch for shutdown.
func TestAttachWhileClosingEndsAtOnce(t *testing.T) {
	h, sess, _ := openedSession(t)
	h.lp.stopOwned() // Close's first step: the Server is closing
	r := h.lp.AttachTransport(sess, TransportSSE)
	defer r.Detach()
	if !ended(r) || !errors.Is(r.Why(), ErrClosed) {
		t.Fatalf("receiver attached while closing: ended %v, why %v; want ended with ErrClosed", ended(r), r.Why())
	}
	if sess.Ended() {
		t.Fatal("the session ended: this test is of the closing check alone")
	}
	// A newer receiver, which supersedes it, is ended as it attaches too
	// (ending the first one again would panic: its channel is closed).
	newer := h.lp.AttachTransport(sess, TransportWebSocket)
	defer newer.Detach()
	if !ended(newer) {
		t.Fatal("a second receiver attached while closing is not ended")
	}
}

// Close ends a stream whose session is no longer in the session table (as
// a session the sweep forgot, with a shared store, may not be): streams do
// not watch for shutdown, so Close must reach each through its receiver.
func TestCloseEndsStreamOfSessionNotInTable(t *testing.T) {
	h, sess, _ := openedSession(t)
	r := h.lp.AttachTransport(sess, TransportWebSocket)
	defer r.Detach()
	if !h.lp.sessions.remove(sess) {
		t.Fatal("the session was not in the table")
	}
	if err := h.lp.Close(); err != nil {
		t.Fatal(err)
	}
	if !ended(r) || !errors.Is(r.Why(), ErrClosed) {
		t.Fatalf("after Close, the stream of a session not in the table: ended %v, why %v; want ended with ErrClosed", ended(r), r.Why())
	}
}
