package longpoll

import (
	"context"
	"encoding/json"
	"time"

	"github.com/lifeline-go/lifeline/ratelimit"
)

// A Backend shares a Server's state between processes, so that any request
// of any client may reach any instance: the event buffer, the sessions and
// presence. Config.Backend nil (the default) keeps all of it in this
// process. Package llredis provides a Backend on Redis.
type Backend interface {
	// Buffer is the shared event buffer.
	Buffer() Buffer
	// Sessions is the shared session store.
	Sessions() SessionStore
	// Presence is the shared presence store.
	Presence() PresenceStore
	// RateLimits is the shared store of the per-session rate limits, so
	// that adding instances does not multiply a client's budget.
	RateLimits() ratelimit.Store
}

// A SessionRecord is what a SessionStore keeps of a session: everything
// another instance needs to serve it.
type SessionRecord struct {
	Token   string
	ID      string
	Topics  []string
	Meta    json.RawMessage
	Created time.Time
	// Addr is the client's address key, for the per-address session
	// budget. It is never shown to clients.
	Addr string
}

// SessionLimits bound the sessions a store creates: at most Max in all and
// PerAddr per address key (zero: no per-address bound).
type SessionLimits struct {
	Max     int
	PerAddr int
}

// A SessionStore keeps sessions where every instance finds them. Errors
// other than the documented sentinels mean the store is unreachable and
// should wrap ErrUnavailable.
type SessionStore interface {
	// Create stores a new session, alive until now+ttl unless touched.
	// It fails with ErrTooManySessions when a limit would be exceeded.
	Create(ctx context.Context, r SessionRecord, now time.Time, ttl time.Duration, limits SessionLimits) error
	// Lookup returns the live session for token and keeps it alive until
	// now+ttl; ErrUnknownSession when there is none.
	Lookup(ctx context.Context, token string, now time.Time, ttl time.Duration) (SessionRecord, error)
	// Touch keeps the session alive until now+ttl; ErrUnknownSession when
	// it has ended.
	Touch(ctx context.Context, token string, now time.Time, ttl time.Duration) error
	// End ends the session now. It returns the record and true when this
	// call ended it, false when it had ended already.
	End(ctx context.Context, token string) (SessionRecord, bool, error)
	// Expire ends up to max sessions whose life ran out before now and
	// returns them. Each session is returned by exactly one call across
	// every instance, so that its leave is published once.
	Expire(ctx context.Context, now time.Time, max int) ([]SessionRecord, error)
	// Attach records a new receiver (poll or stream) for the session and
	// returns its generation, which grows with every Attach. Every
	// instance's notice handler learns of it, so that an older receiver
	// anywhere ends.
	Attach(ctx context.Context, token, clientID string) (uint64, error)
	// Watch sets the handler of notices from every instance, this one
	// included. The Server calls it once, before any other method. The
	// handler must not block.
	Watch(func(Notice))
	// Count returns the number of live sessions.
	Count(ctx context.Context) (int, error)
}

// A Notice tells every instance about a session: a receiver attached
// somewhere (Receiver is its generation), or the session ended (Ended).
// A Notice with Missed set names no session: notices may have been lost
// (the store's connection broke), and cached sessions must be checked
// again.
type Notice struct {
	ClientID string
	Receiver uint64
	Ended    bool
	Missed   bool
}

// A PresenceStore keeps who is present in which topic.
type PresenceStore interface {
	// Join records m in every topic.
	Join(ctx context.Context, topics []string, m Member) error
	// Leave removes the client from every topic.
	Leave(ctx context.Context, topics []string, clientID string) error
	// List returns the members of topic.
	List(ctx context.Context, topic string) ([]Member, error)
}
