package negotiate

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/longpoll"
)

// heldRetryAfter is the wait advised to a client over its held-connection
// cap: long enough for one of its polls to end or a stream to be dropped.
const heldRetryAfter = 5 * time.Second

// heldShards spreads client addresses over independently locked counters,
// so that thousands of polls starting at once do not queue on one lock.
const heldShards = 32

// heldConns counts, per client address, the connections this process holds
// open for it: polls, SSE streams and WebSockets. Counts live only while a
// connection does, so memory follows the connections, not the addresses
// ever seen.
//
// A count is taken under its shard's lock and handed back without it: the
// thousands of polls that one publish answers each release theirs as they
// end, and taking the lock, hashing the address and looking it up again
// for each was ~2% of the server's CPU in the load tool's fan-out to
// 10 000 polls. Only the release that empties a count takes the lock, to
// drop it from the map.
type heldConns struct {
	max    int
	seed   maphash.Seed
	shards [heldShards]heldShard
}

type heldShard struct {
	mu sync.Mutex
	n  map[string]*heldCount
}

// A heldCount is one address's count of held connections. It is raised
// only under its shard's lock, and leaves the map, under the lock, once
// it is zero: a count found in the map is live.
type heldCount struct {
	n     atomic.Int32
	key   string
	shard *heldShard
}

func newHeldConns(max int) *heldConns {
	h := &heldConns{max: max, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].n = make(map[string]*heldCount)
	}
	return h
}

// acquire counts one more connection for key, unless key already holds
// the maximum, and returns the count to hand to release. An empty key
// (the address is unknown) is never capped: its count is nil.
func (h *heldConns) acquire(key string) (c *heldCount, ok bool) {
	if key == "" {
		return nil, true
	}
	sh := &h.shards[maphash.String(h.seed, key)%heldShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c = sh.n[key]
	held := 0
	if c != nil {
		// Releases may lower it meanwhile, without the lock: the cap is
		// at worst judged too strictly, by a connection that is ending.
		held = int(c.n.Load())
	}
	if held >= h.max {
		return nil, false
	}
	if c == nil {
		c = &heldCount{key: key, shard: sh}
		sh.n[key] = c
	}
	c.n.Add(1)
	return c, true
}

// release counts one connection of c fewer; c is what acquire returned.
// The release that empties the count drops it from the map, unless an
// acquire has raised it again meanwhile.
func (h *heldConns) release(c *heldCount) {
	if c == nil || c.n.Add(-1) > 0 {
		return
	}
	sh := c.shard
	sh.mu.Lock()
	if c.n.Load() == 0 && sh.n[c.key] == c {
		delete(sh.n, c.key)
	}
	sh.mu.Unlock()
}

// holdKey is the key a request's held connection counts against: the
// client address, as the negotiate limit keys it. A request whose address
// cannot be told is not capped.
func (h *Handler) holdKey(c *gin.Context) string {
	key, err := h.cfg.NegotiateLimit.KeyFunc(c)
	if err != nil {
		return ""
	}
	return key
}

// hold counts the request in counts (h.held for polls and streams,
// h.bodies for requests receiving their body, counted apart so that an
// address whose clients hold many polls — users behind one NAT — can still
// send), or returns false when its client already holds
// Config.MaxHeldPerAddress. When ok, the caller calls release with the
// returned function when the connection ends.
func (h *Handler) hold(c *gin.Context, counts *heldConns) (release func(), ok bool) {
	if counts == nil {
		return func() {}, true
	}
	count, ok := counts.acquire(h.holdKey(c))
	if !ok {
		return nil, false
	}
	return func() { counts.release(count) }, true
}

// tooManyHeld is the refusal of a connection over the cap; it reports the
// refusal to the Server (its Observer and aggregated log).
func (h *Handler) tooManyHeld() longpoll.Problem {
	h.lp.RateLimited(longpoll.PolicyConnections)
	return longpoll.Problem{
		Status:     http.StatusTooManyRequests,
		Code:       "too_many_connections",
		Detail:     "this address holds " + strconv.Itoa(h.cfg.MaxHeldPerAddress) + " polls and streams already: retry later",
		RetryAfter: heldRetryAfter,
	}
}

// capPolls is the middleware in front of the long-poll handler that counts
// each poll as a held connection, and refuses one over the cap with 429
// too_many_connections and Retry-After. It runs once per poll cycle, so it
// calls the counter directly rather than through hold's closure, which
// would be allocated on every poll.
func (h *Handler) capPolls(c *gin.Context) {
	if h.held == nil {
		c.Next()
		return
	}
	count, ok := h.held.acquire(h.holdKey(c))
	if !ok {
		p := h.tooManyHeld()
		problem.WriteRetry(c, p.Status, p.Code, p.Detail, p.RetryAfter)
		return
	}
	defer h.held.release(count)
	c.Next()
}
