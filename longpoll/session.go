package longpoll

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// TokenHeader is the request header that carries a session's secret token
// (PROTOCOL.md §3). The token never travels in a URL.
const TokenHeader = "Lifeline-Token"

// A Session is one client's state between requests: created by negotiate,
// kept alive by every request, ended by DELETE {base}/session or by
// Config.SessionTTL of silence. Its exported fields never change after
// creation.
type Session struct {
	// ID is the public client id, shown to other clients in presence and as
	// the "from" of the events this client sends.
	ID string
	// Topics are the topics the session follows, authorized at creation.
	Topics []string
	// Meta is the client's metadata from negotiate (a JSON object or nil).
	Meta json.RawMessage
	// Created is when negotiate created the session.
	Created time.Time

	token    string
	lastSeen atomic.Int64 // unix nanoseconds of the last request
	ended    atomic.Bool

	mu       sync.Mutex
	receiver chan struct{} // closed to end the current receiver (poll or stream)
	// lastAnswered is the cursor of the last poll answered with events; a
	// poll repeating it brings nothing new.
	lastAnswered Cursor
	// idleUntil is when a session over its idle limit may poll again.
	idleUntil   time.Time
	idleRefusal ratelimit.Decision
}

// Ended reports whether the session has ended (expired, deleted, or the
// server closed): its receivers stop and its client must negotiate again.
func (s *Session) Ended() bool { return s.ended.Load() }

// follows reports whether the session follows topic.
func (s *Session) follows(topic string) bool {
	for _, t := range s.Topics {
		if t == topic {
			return true
		}
	}
	return false
}

// attach registers a new receiver (a held poll or a stream) and ends the
// previous one: a session receives on one transport at a time, and the
// newest request wins, so a client switching transports or re-polling never
// leaves an orphan behind. The returned channel is closed when this
// receiver is superseded or the session ends.
func (s *Session) attach() chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.receiver != nil {
		close(s.receiver)
	}
	s.receiver = ch
	s.mu.Unlock()
	return ch
}

// detach unregisters ch if it is still the current receiver.
func (s *Session) detach(ch chan struct{}) {
	s.mu.Lock()
	if s.receiver == ch {
		s.receiver = nil
	}
	s.mu.Unlock()
}

// sessions stores live sessions by token in a go-cache used as a concurrent
// map with eviction callbacks. Expiry is judged against the injected clock,
// so the cache holds items without its own expiration and runs no janitor
// of its own; Server's janitor calls sweep.
type sessions struct {
	items *cache.Cache
	ttl   time.Duration
	max   int
	now   func() time.Time
}

func newSessions(ttl time.Duration, max int, now func() time.Time, onEnd func(*Session)) *sessions {
	// cleanupInterval 0: go-cache's own janitor goroutine would never stop.
	items := cache.New(cache.NoExpiration, 0)
	items.OnEvicted(func(_ string, v any) { onEnd(v.(*Session)) })
	return &sessions{items: items, ttl: ttl, max: max, now: now}
}

// create stores a new session and returns it with its token.
func (ss *sessions) create(topics []string, meta json.RawMessage) (*Session, error) {
	if ss.items.ItemCount() >= ss.max {
		return nil, ErrTooManySessions
	}
	now := ss.now()
	s := &Session{ID: "c_" + randomID(10), Topics: topics, Meta: meta, Created: now, token: "t_" + randomID(32)}
	s.lastSeen.Store(now.UnixNano())
	ss.items.SetDefault(s.token, s)
	return s, nil
}

// get returns the live session for token and marks it seen. An expired
// session is ended on the spot.
func (ss *sessions) get(token string) (*Session, error) {
	if token == "" {
		return nil, ErrUnknownSession
	}
	v, ok := ss.items.Get(token)
	if !ok {
		return nil, ErrUnknownSession
	}
	s := v.(*Session)
	now := ss.now()
	if ss.expired(s, now) {
		ss.items.Delete(token)
		return nil, ErrUnknownSession
	}
	s.lastSeen.Store(now.UnixNano())
	return s, nil
}

// touch marks s seen now, e.g. when a held poll ends.
func (ss *sessions) touch(s *Session) { s.lastSeen.Store(ss.now().UnixNano()) }

func (ss *sessions) expired(s *Session, now time.Time) bool {
	return now.UnixNano()-s.lastSeen.Load() > int64(ss.ttl)
}

// end removes the session for token, if any; the eviction callback runs.
func (ss *sessions) end(token string) { ss.items.Delete(token) }

// sweep ends every session idle for longer than the TTL.
func (ss *sessions) sweep() {
	now := ss.now()
	for token, item := range ss.items.Items() {
		if ss.expired(item.Object.(*Session), now) {
			ss.items.Delete(token)
		}
	}
}

// endAll ends every session, for shutdown.
func (ss *sessions) endAll() {
	for token := range ss.items.Items() {
		ss.items.Delete(token)
	}
}

func (ss *sessions) count() int { return ss.items.ItemCount() }

// randomID returns n random bytes in unpadded base64url.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}
