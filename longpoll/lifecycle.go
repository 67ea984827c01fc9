package longpoll

import (
	"context"
	"errors"

	"github.com/gin-gonic/gin"
)

// This file is the life of a session: created by Open, found by
// Authenticate, kept alive by touches, ended by DELETE session, by expiry
// or, with a shared store, by another instance. Without a store the local
// table is the only record; with one, the store decides and this
// instance's table caches the sessions it serves.

// expireBatch bounds the expired sessions one janitor tick claims from a
// shared store per round.
const expireBatch = 512

// createSession stores a new session: in the shared store first, when
// there is one, then in this instance's table.
func (s *Server) createSession(c *gin.Context, r SessionRecord) (*Session, error) {
	now := s.cfg.Now()
	sess := newSession(r, now)
	if s.store == nil {
		return s.sessions.add(sess, true)
	}
	limits := SessionLimits{Max: s.cfg.MaxSessions, PerAddr: s.cfg.MaxSessionsPerAddr}
	if err := s.store.Create(c.Request.Context(), r, now, s.cfg.SessionTTL, limits); err != nil {
		return nil, err
	}
	return s.sessions.add(sess, false)
}

// Authenticate returns the live session for a token and marks it seen.
// It fails with ErrUnknownSession, ErrUnavailable when a shared store
// cannot answer, or ErrClosed once the Server is closing.
func (s *Server) Authenticate(token string) (*Session, error) {
	if s.isClosing() {
		return nil, ErrClosed
	}
	if token == "" {
		return nil, ErrUnknownSession
	}
	now := s.cfg.Now()
	sess := s.sessions.get(token)
	if s.store == nil {
		if sess == nil {
			return nil, ErrUnknownSession
		}
		if s.sessions.expired(sess, now) {
			s.endLocal(sess, SessionEndExpired)
			return nil, ErrUnknownSession
		}
		sess.lastSeen.Store(now.UnixNano())
		return sess, nil
	}
	ctx := context.Background() // the store bounds each call's time
	if sess != nil {
		// A session that ends anywhere is announced to every instance,
		// which forgets it (and forgets every cached session when
		// announcements may have been missed): a cached session needs the
		// store only to be kept alive, every quarter of its TTL.
		if now.UnixNano()-sess.sharedSeen.Load() < int64(s.cfg.SessionTTL/4) {
			sess.lastSeen.Store(now.UnixNano())
			return sess, nil
		}
		if err := s.store.Touch(ctx, token, now, s.cfg.SessionTTL); err != nil {
			if errors.Is(err, ErrUnknownSession) {
				s.dropLocal(sess)
			}
			return nil, err
		}
		sess.lastSeen.Store(now.UnixNano())
		sess.sharedSeen.Store(now.UnixNano())
		return sess, nil
	}
	r, err := s.store.Lookup(ctx, token, now, s.cfg.SessionTTL)
	if err != nil {
		return nil, err
	}
	return s.sessions.add(newSession(r, now), false)
}

// touch marks sess seen here, and in the shared store at most every
// quarter of the session TTL, so that a busy stream costs the store little.
func (s *Server) touch(sess *Session) {
	now := s.cfg.Now()
	sess.lastSeen.Store(now.UnixNano())
	if s.store == nil || now.UnixNano()-sess.sharedSeen.Load() < int64(s.cfg.SessionTTL/4) {
		return
	}
	sess.sharedSeen.Store(now.UnixNano())
	err := s.store.Touch(context.Background(), sess.token, now, s.cfg.SessionTTL)
	if errors.Is(err, ErrUnknownSession) {
		s.dropLocal(sess)
	}
}

// EndSession ends the session of token at once, on every instance, and
// publishes its leave. Ending an unknown or ended session does nothing.
func (s *Server) EndSession(ctx context.Context, token string) error {
	return s.endSession(ctx, token, SessionEndDeleted)
}

// endSession is EndSession, reporting why the session ended.
func (s *Server) endSession(ctx context.Context, token, why string) error {
	if token == "" {
		return nil
	}
	if s.store == nil {
		if sess := s.sessions.get(token); sess != nil {
			s.endLocal(sess, why)
		}
		return nil
	}
	r, ended, err := s.store.End(ctx, token)
	if err != nil {
		return err
	}
	transport := ""
	if sess := s.sessions.get(token); sess != nil {
		transport = sess.lastTransport()
		s.dropLocal(sess)
	}
	if ended {
		s.sessionEnded(r, transport, why)
		s.announceLeave(r)
	}
	return nil
}

// EndSessions ends every session this instance holds now, as if each had
// expired: their clients get 401 on their next request and negotiate
// again. Presence publishes each leave.
func (s *Server) EndSessions() {
	all := s.sessions.all()
	for _, sess := range all {
		if err := s.endSession(context.Background(), sess.token, SessionEndShutdown); err != nil {
			s.cfg.Logger.Warn("lifeline: ending a session failed", "client", sess.ID, "err", err)
		}
	}
	if len(all) > 0 {
		s.cfg.Logger.Info("lifeline: sessions ended at shutdown", "sessions", len(all))
	}
}

// sweepSessions ends sessions idle for longer than the TTL. With a shared
// store, this instance forgets the ones it no longer serves, and claims
// expired sessions from the store, whichever instance served them, so that
// each leave is published once even when that instance died.
func (s *Server) sweepSessions() {
	for _, sess := range s.sessions.idle() {
		switch {
		case s.store == nil:
			s.endLocal(sess, SessionEndExpired)
		case !sess.hasReceiver():
			// Forgotten here only. A receiver still attached (a stream
			// whose heartbeat is longer than the TTL) keeps its session
			// cached, so that a newer receiver elsewhere still ends it.
			// (A stream that attaches between this check and the
			// removal is not kept: Close still ends it, through
			// s.streams, but a newer receiver elsewhere does not.)
			s.sessions.remove(sess)
		}
	}
	if s.store == nil {
		return
	}
	for range 8 {
		expired, err := s.store.Expire(context.Background(), s.cfg.Now(), expireBatch)
		if err != nil {
			s.cfg.Logger.Warn("lifeline: expiring sessions failed", "err", err)
			return
		}
		for _, r := range expired {
			transport := ""
			if sess := s.sessions.byClient(r.ID); sess != nil {
				transport = sess.lastTransport()
			}
			s.sessionEnded(r, transport, SessionEndExpired)
			s.announceLeave(r)
		}
		if len(expired) < expireBatch {
			return
		}
	}
}

// notice applies what another instance (or this one) announced.
func (s *Server) notice(n Notice) {
	if n.Missed {
		// Ends may have gone unheard: have every cached session ask the
		// store again on its next request or touch. They stay in the
		// table, so that a session the store no longer knows is dropped
		// with its receiver (dropLocal), and Close still reaches every
		// receiver; forgetting them here left their streams and polls to
		// nobody.
		for _, sess := range s.sessions.all() {
			sess.sharedSeen.Store(0)
		}
		return
	}
	sess := s.sessions.byClient(n.ClientID)
	if sess == nil {
		return
	}
	if n.Ended {
		s.dropLocal(sess)
		return
	}
	sess.announced(n.Receiver)
}

// endLocal ends a session that only this process knows: it leaves the
// table, its receiver stops, and presence publishes its leave. Of racing
// calls, one does it and reports why.
func (s *Server) endLocal(sess *Session, why string) {
	if !s.sessions.remove(sess) {
		return
	}
	sess.ended.Store(true)
	sess.endReceiver()
	s.sessionEnded(sess.record(), sess.lastTransport(), why)
	if !s.isClosing() {
		s.announceLeave(sess.record())
	}
}

// dropLocal forgets a session that ended in the shared store, wherever it
// ended; whoever ended it published the leave.
func (s *Server) dropLocal(sess *Session) {
	s.sessions.remove(sess)
	sess.ended.Store(true)
	sess.endReceiver()
}

func (s *Server) announceLeave(r SessionRecord) {
	if s.presence == nil {
		return
	}
	if err := s.presence.leave(context.Background(), r); err != nil {
		s.cfg.Logger.Warn("lifeline: presence leave failed", "client", r.ID, "err", err)
	}
}
