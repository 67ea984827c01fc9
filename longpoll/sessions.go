package longpoll

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// sessions is this process's table of sessions, by token and by client id,
// in independently locked shards. Without a shared store it is the only
// record of them and enforces the session limits; with one it is a cache of
// the sessions this instance serves.
//
// Expiry is judged against the injected clock. The sweep walks one shard at
// a time in place: it never copies the table, so a hundred thousand idle
// sessions cost nothing between sweeps.
type sessions struct {
	seed    maphash.Seed
	byToken [shardCount]sessionShard
	byID    [shardCount]sessionShard
	n       atomic.Int64

	ttl    time.Duration
	limits SessionLimits // enforced here only without a shared store
	now    func() time.Time

	addrMu sync.Mutex
	addrs  map[string]int // address key → live sessions
}

type sessionShard struct {
	mu sync.Mutex
	m  map[string]*Session
}

func newSessions(ttl time.Duration, limits SessionLimits, now func() time.Time) *sessions {
	ss := &sessions{seed: maphash.MakeSeed(), ttl: ttl, limits: limits, now: now, addrs: make(map[string]int)}
	for i := range ss.byToken {
		ss.byToken[i].m = make(map[string]*Session)
		ss.byID[i].m = make(map[string]*Session)
	}
	return ss
}

func (ss *sessions) shard(table *[shardCount]sessionShard, key string) *sessionShard {
	return &table[maphash.String(ss.seed, key)%shardCount]
}

// reserve counts a new session against the limits, or fails with
// ErrTooManySessions. release undoes it.
func (ss *sessions) reserve(addr string) error {
	if ss.n.Add(1) > int64(ss.limits.Max) {
		ss.n.Add(-1)
		return ErrTooManySessions
	}
	if ss.limits.PerAddr > 0 && addr != "" {
		ss.addrMu.Lock()
		defer ss.addrMu.Unlock()
		if ss.addrs[addr] >= ss.limits.PerAddr {
			ss.n.Add(-1)
			return ErrTooManySessions
		}
		ss.addrs[addr]++
	}
	return nil
}

func (ss *sessions) release(addr string) {
	ss.n.Add(-1)
	if ss.limits.PerAddr > 0 && addr != "" {
		ss.addrMu.Lock()
		if ss.addrs[addr]--; ss.addrs[addr] <= 0 {
			delete(ss.addrs, addr)
		}
		ss.addrMu.Unlock()
	}
}

// add puts s in the table; with limited set, it first takes its place in
// the limits (the table is the store), failing with ErrTooManySessions.
// A session with the same token already cached wins and is returned.
func (ss *sessions) add(s *Session, limited bool) (*Session, error) {
	if limited {
		if err := ss.reserve(s.addr); err != nil {
			return nil, err
		}
	}
	sh := ss.shard(&ss.byToken, s.token)
	sh.mu.Lock()
	if prior := sh.m[s.token]; prior != nil {
		sh.mu.Unlock()
		if limited {
			ss.release(s.addr)
		}
		return prior, nil
	}
	sh.m[s.token] = s
	sh.mu.Unlock()
	if !limited {
		ss.n.Add(1)
	}
	ids := ss.shard(&ss.byID, s.ID)
	ids.mu.Lock()
	ids.m[s.ID] = s
	ids.mu.Unlock()
	return s, nil
}

// get returns the cached session for token, or nil.
func (ss *sessions) get(token string) *Session {
	sh := ss.shard(&ss.byToken, token)
	sh.mu.Lock()
	s := sh.m[token]
	sh.mu.Unlock()
	return s
}

// byClient returns the cached session of a client id, or nil.
func (ss *sessions) byClient(id string) *Session {
	sh := ss.shard(&ss.byID, id)
	sh.mu.Lock()
	s := sh.m[id]
	sh.mu.Unlock()
	return s
}

// remove takes s out of the table and reports whether it was there: of
// racing removals, exactly one returns true.
func (ss *sessions) remove(s *Session) bool {
	sh := ss.shard(&ss.byToken, s.token)
	sh.mu.Lock()
	present := sh.m[s.token] == s
	if present {
		delete(sh.m, s.token)
	}
	sh.mu.Unlock()
	if !present {
		return false
	}
	ids := ss.shard(&ss.byID, s.ID)
	ids.mu.Lock()
	if ids.m[s.ID] == s {
		delete(ids.m, s.ID)
	}
	ids.mu.Unlock()
	ss.release(s.addr)
	return true
}

// touch marks s seen now.
func (ss *sessions) touch(s *Session) { s.lastSeen.Store(ss.now().UnixNano()) }

func (ss *sessions) expired(s *Session, now time.Time) bool {
	return now.UnixNano()-s.lastSeen.Load() > int64(ss.ttl)
}

// idle returns the sessions not seen for longer than the TTL, walking one
// shard at a time without copying the table.
func (ss *sessions) idle() []*Session {
	now := ss.now()
	var out []*Session
	for i := range ss.byToken {
		sh := &ss.byToken[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			if ss.expired(s, now) {
				out = append(out, s)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// all returns every cached session, for shutdown.
func (ss *sessions) all() []*Session {
	var out []*Session
	for i := range ss.byToken {
		sh := &ss.byToken[i]
		sh.mu.Lock()
		for _, s := range sh.m {
			out = append(out, s)
		}
		sh.mu.Unlock()
	}
	return out
}

func (ss *sessions) count() int { return int(ss.n.Load()) }
