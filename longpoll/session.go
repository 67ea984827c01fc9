package longpoll

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
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
	addr     string       // the client's address key, for the per-address budget
	lastSeen atomic.Int64 // unix nanoseconds of the last request here
	// sharedSeen is when the shared store last heard of the session from
	// this instance: touches of a busy stream are spaced out.
	sharedSeen atomic.Int64
	ended      atomic.Bool

	mu       sync.Mutex
	receiver receiverEnd // ends the current receiver (poll or stream); nil for none
	// transport is the transport of the newest receiver here, for the
	// switch count and the session's last log line.
	transport string
	// receiverGen is the shared store's generation of the current receiver
	// (zero while unknown or without a shared store), and newestGen the
	// highest generation any instance announced: a receiver older than a
	// newer one anywhere ends.
	receiverGen, newestGen uint64
	// ownGen is the last generation this instance obtained for the session.
	ownGen uint64
	// lastAnswered is the cursor of the last poll answered with events; a
	// poll repeating it brings nothing new.
	lastAnswered Cursor
	// idle is the session's refusal by its idle limit, nil when none.
	idle *idleRefusal
}

// newSession builds the local form of a session record.
func newSession(r SessionRecord, now time.Time) *Session {
	s := &Session{ID: r.ID, Topics: r.Topics, Meta: r.Meta, Created: r.Created, token: r.Token, addr: r.Addr}
	s.lastSeen.Store(now.UnixNano())
	s.sharedSeen.Store(now.UnixNano())
	return s
}

func (s *Session) record() SessionRecord {
	return SessionRecord{Token: s.token, ID: s.ID, Topics: s.Topics, Meta: s.Meta, Created: s.Created, Addr: s.addr}
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

// receiverEnd ends one receiver: a stream's closes its Done channel
// (doneChan), a held poll's wakes its one wait channel with a reason
// (pollWaiter). Sessions compare them for identity, so each receiver's is
// distinct.
type receiverEnd interface{ end() }

// doneChan is a stream's receiverEnd: closed when the stream must stop.
type doneChan chan struct{}

func (d doneChan) end() { close(d) }

// attach registers a new stream receiver and ends the previous one (see
// attachEnd). The returned channel is closed when this receiver is
// superseded or the session ends.
func (s *Session) attach(transport string) (ch doneChan, prev string) {
	ch = make(doneChan)
	return ch, s.attachEnd(ch, transport)
}

// attachEnd registers a new receiver (a held poll or a stream), ended
// through r, and ends the previous one: a session receives on one
// transport at a time, and the newest request wins, so a client switching
// transports or re-polling never leaves an orphan behind. It returns the
// transport of the receiver before, empty for the first.
func (s *Session) attachEnd(r receiverEnd, transport string) (prev string) {
	s.mu.Lock()
	s.endReceiverLocked()
	s.receiver, s.receiverGen = r, 0
	prev, s.transport = s.transport, transport
	s.mu.Unlock()
	return prev
}

// hasReceiver reports whether a receiver is attached.
func (s *Session) hasReceiver() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.receiver != nil
}

// lastTransport returns the transport of the newest receiver, empty when
// none attached here.
func (s *Session) lastTransport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// detach unregisters r if it is still the current receiver. Once it
// returns, the session never ends r.
func (s *Session) detach(r receiverEnd) {
	s.mu.Lock()
	if s.receiver == r {
		s.receiver = nil
	}
	s.mu.Unlock()
}

// endReceiver ends the current receiver, if any.
func (s *Session) endReceiver() {
	s.mu.Lock()
	s.endReceiverLocked()
	s.mu.Unlock()
}

// endIfCurrent ends r if it is still the current receiver: a newer one
// ended it already.
func (s *Session) endIfCurrent(r receiverEnd) {
	s.mu.Lock()
	if s.receiver == r {
		s.endReceiverLocked()
	}
	s.mu.Unlock()
}

func (s *Session) endReceiverLocked() {
	if s.receiver != nil {
		s.receiver.end()
		s.receiver = nil
	}
}

// attached records the shared generation of receiver r, once the store
// has assigned it. A newer receiver announced meanwhile ends it at once.
func (s *Session) attached(r receiverEnd, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.receiver != r {
		return
	}
	if gen < s.newestGen {
		s.endReceiverLocked()
		return
	}
	s.receiverGen, s.ownGen = gen, max(s.ownGen, gen)
}

// reuseGen lets receiver r take the generation this instance announced
// last, when no newer one has been heard of: every receiver elsewhere is
// older and has been told to end, and the local one ended on attach. A
// newer one announced meanwhile ends r when its notice arrives. It
// reports whether r needs no announcement of its own.
func (s *Session) reuseGen(r receiverEnd) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.receiver != r || s.ownGen == 0 || s.ownGen < s.newestGen {
		return false
	}
	s.receiverGen = s.ownGen
	return true
}

// announced handles another instance's (or this one's) new receiver of
// generation gen: the local receiver ends when it is older.
func (s *Session) announced(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.newestGen = max(s.newestGen, gen)
	if s.receiverGen != 0 && s.receiverGen < gen {
		s.endReceiverLocked()
	}
}

// randomID returns n random bytes in unpadded base64url.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newSessionRecord returns a record with a fresh client id and token.
func newSessionRecord(topics []string, meta json.RawMessage, addr string, now time.Time) SessionRecord {
	return SessionRecord{Token: "t_" + randomID(32), ID: "c_" + randomID(10), Topics: topics, Meta: meta, Created: now, Addr: addr}
}
