package longpoll

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultDedupWindow is how long a buffer remembers a Draft.Key, and how
// long a Server remembers a send's acknowledgement.
const DefaultDedupWindow = 2 * time.Minute

// appendKeys remembers the Draft.Key of recent appends, so that a keyed
// append is applied once within the window. An append holds its key's shard
// lock from the check to the record, so two appends with one key never both
// pass the check.
type appendKeys struct {
	seed   maphash.Seed
	window time.Duration
	shards [shardCount]keyShard
}

type keyShard struct {
	mu   sync.Mutex
	seen map[string]keyEntry
}

type keyEntry struct {
	id      Cursor
	expires time.Time
}

func newAppendKeys(window time.Duration) *appendKeys {
	k := &appendKeys{seed: maphash.MakeSeed(), window: window}
	for i := range k.shards {
		k.shards[i].seen = make(map[string]keyEntry)
	}
	return k
}

// claim locks key's shard and reports the event already appended under key,
// if any. The caller must call the returned release with the new event's
// id, or with the zero Cursor when it appended nothing.
func (k *appendKeys) claim(key string, now time.Time) (prior Cursor, found bool, release func(Cursor)) {
	sh := &k.shards[maphash.String(k.seed, key)%shardCount]
	sh.mu.Lock()
	if e, ok := sh.seen[key]; ok && now.Before(e.expires) {
		sh.mu.Unlock()
		return e.id, true, nil
	}
	return Cursor{}, false, func(id Cursor) {
		if !id.IsZero() {
			sh.seen[key] = keyEntry{id: id, expires: now.Add(k.window)}
		}
		sh.mu.Unlock()
	}
}

// sweep forgets keys whose window has passed, one shard at a time.
func (k *appendKeys) sweep(now time.Time) {
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		for key, e := range sh.seen {
			if !now.Before(e.expires) {
				delete(sh.seen, key)
			}
		}
		sh.mu.Unlock()
	}
}
