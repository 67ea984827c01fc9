package negotiate

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"
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
type heldConns struct {
	max    int
	seed   maphash.Seed
	shards [heldShards]struct {
		mu sync.Mutex
		n  map[string]int
	}
}

func newHeldConns(max int) *heldConns {
	h := &heldConns{max: max, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].n = make(map[string]int)
	}
	return h
}

// acquire counts one more connection for key, unless key already holds
// the maximum. An empty key (the address is unknown) is never capped.
func (h *heldConns) acquire(key string) bool {
	if key == "" {
		return true
	}
	sh := &h.shards[maphash.String(h.seed, key)%heldShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[key] >= h.max {
		return false
	}
	sh.n[key]++
	return true
}

// release counts one connection of key fewer.
func (h *heldConns) release(key string) {
	if key == "" {
		return
	}
	sh := &h.shards[maphash.String(h.seed, key)%heldShards]
	sh.mu.Lock()
	if sh.n[key] <= 1 {
		delete(sh.n, key)
	} else {
		sh.n[key]--
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
	key := h.holdKey(c)
	if !counts.acquire(key) {
		return nil, false
	}
	return func() { counts.release(key) }, true
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
	key := h.holdKey(c)
	if !h.held.acquire(key) {
		p := h.tooManyHeld()
		problem.WriteRetry(c, p.Status, p.Code, p.Detail, p.RetryAfter)
		return
	}
	defer h.held.release(key)
	c.Next()
}
