package ratelimit

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patrickmn/go-cache"
	"golang.org/x/time/rate"
)

// fullSweepGap is the least time, by the clock the callers pass in, between
// two sweeps started because the store was full. A full store whose buckets
// all hold debt would otherwise be scanned on every refused request.
const fullSweepGap = time.Second

// shards is the number of store shards. A power of two.
const shards = 128

// shard is one part of the store: a go-cache and the lock that serialises
// every use of it, padded to its own cache line so that requests on
// different shards share no memory they write.
type shard struct {
	mu    sync.Mutex
	items *cache.Cache
	_     [64 - 16]byte
}

// store maps keys to token buckets, one *rate.Limiter per key, with a hard
// cap on the number of keys.
//
// Keys hash to shards. Each shard holds a go-cache with go-cache's janitor
// off (cleanup interval 0: that goroutine stops only through a finalizer)
// and every item stored without expiry: buckets leave only through sweeps,
// and only when full. Finding or creating a key's bucket, taking a token
// from it, and a sweep's check-and-evict all happen under the shard's lock,
// so a bucket is created once per key and is evicted only at a moment it is
// full, with no request in flight on it. go-cache's own lock is then never
// contended, and no lock word is shared by all requests.
type store struct {
	shards [shards]shard
	seed   maphash.Seed
	n      atomic.Int64 // buckets stored; only find and sweep change it
	max    int64
	limit  rate.Limit
	burst  int

	interval  time.Duration
	inline    atomic.Bool  // sweep on insert when due (no sweeping goroutine)
	sweepMu   sync.Mutex   // one sweep at a time
	lastSweep atomic.Int64 // UnixNano of the last sweep's now; 0 before the first insert
	lastFull  atomic.Int64 // UnixNano of the last sweep started by a full store; 0 if none
}

func newStore(limit rate.Limit, burst, maxKeys int, interval time.Duration) *store {
	s := &store{
		seed:     maphash.MakeSeed(),
		max:      int64(maxKeys),
		limit:    limit,
		burst:    burst,
		interval: interval,
	}
	for i := range s.shards {
		s.shards[i].items = cache.New(cache.NoExpiration, 0)
	}
	return s
}

func (s *store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&(shards-1)]
}

// take takes a token from key's bucket at now, creating a full bucket if key
// has none, and returns the tokens left. full reports that key has no bucket
// and none could be made.
func (s *store) take(key string, now time.Time) (allowed bool, tokens float64, full bool) {
	sh := s.shard(key)
	for attempt := 0; ; attempt++ {
		sh.mu.Lock()
		if lim, created := s.find(sh, key); lim != nil {
			allowed = lim.AllowN(now, 1)
			tokens = lim.TokensAt(now)
			sh.mu.Unlock()
			// Sweeps take shard locks, so they run with none held.
			if created && s.inline.Load() && s.sweepDueAt(now) {
				s.sweepDue(now)
			}
			return allowed, tokens, false
		}
		sh.mu.Unlock()
		if attempt > 0 || !s.makeRoom(now) {
			return false, 0, true
		}
	}
}

// find returns key's bucket, creating a full one if there is none and the
// store has room; nil if it has none. The caller holds sh.mu.
func (s *store) find(sh *shard, key string) (lim *rate.Limiter, created bool) {
	if v, ok := sh.items.Get(key); ok {
		return v.(*rate.Limiter), false
	}
	for {
		n := s.n.Load()
		if n >= s.max {
			return nil, false
		}
		if s.n.CompareAndSwap(n, n+1) {
			break
		}
	}
	lim = rate.NewLimiter(s.limit, s.burst)
	// Clone: the caller's key may share memory with a large string (a header
	// line) or a reused buffer; the store keeps only the key's own bytes.
	// Add cannot fail: key is absent and sh.mu is held.
	_ = sh.items.Add(strings.Clone(key), lim, cache.NoExpiration)
	return lim, true
}

// len counts the items in the shards, for tests.
func (s *store) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.items.ItemCount()
		sh.mu.Unlock()
	}
	return n
}

// sweepDueAt reports whether the periodic sweep is due at now. The period
// starts at the first insert, by the caller's clock; if that clock goes
// back, the period starts again.
func (s *store) sweepDueAt(now time.Time) bool {
	last := s.lastSweep.Load()
	since := now.UnixNano() - last
	if last == 0 || since < 0 {
		s.lastSweep.CompareAndSwap(last, now.UnixNano())
		return false
	}
	return since >= int64(s.interval)
}

// makeRoom is called when the store is full. It waits for a sweep that is
// running, then sweeps unless that made room or a sweep for a full store
// ran less than fullSweepGap ago. It reports whether there may be room now.
func (s *store) makeRoom(now time.Time) bool {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	if s.n.Load() < s.max {
		return true
	}
	last := s.lastFull.Load()
	if since := now.UnixNano() - last; last != 0 && since >= 0 && since < int64(fullSweepGap) {
		return false
	}
	s.lastFull.Store(now.UnixNano())
	return s.sweepLocked(now) > 0
}

// sweepDue runs the periodic sweep on the inserting request, unless a sweep
// is already running.
func (s *store) sweepDue(now time.Time) {
	if !s.sweepMu.TryLock() {
		return
	}
	defer s.sweepMu.Unlock()
	if s.sweepDueAt(now) {
		s.sweepLocked(now)
	}
}

// sweep evicts every bucket that is full at now and returns how many.
func (s *store) sweep(now time.Time) int {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	return s.sweepLocked(now)
}

func (s *store) sweepLocked(now time.Time) int {
	s.lastSweep.Store(now.UnixNano())
	full := float64(s.burst)
	evicted := 0
	for i := range s.shards {
		sh := &s.shards[i]
		// Holding the shard's lock for its sweep delays requests on that
		// shard only, for about 1/shards of a whole sweep.
		sh.mu.Lock()
		for k, it := range sh.items.Items() {
			// TokensAt does not move the bucket's clock, and sees no
			// refill if now is earlier than the bucket's last use.
			if it.Object.(*rate.Limiter).TokensAt(now) >= full {
				sh.items.Delete(k)
				s.n.Add(-1)
				evicted++
			}
		}
		sh.mu.Unlock()
	}
	return evicted
}
