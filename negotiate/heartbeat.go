package negotiate

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/internal/rawquery"
)

// MinHeartbeat is the shortest heartbeat interval a client may ask a
// stream for (PROTOCOL.md §5a, `heartbeat`): a client behind a proxy that
// cuts idle responses sooner than Config.Heartbeat asks for one below the
// proxy's limit, and no client may make the server write more often.
const MinHeartbeat = time.Second

// ProbeDelay is when an SSE stream that has sent nothing since its open
// event sends a first heartbeat: a second frame that must reach the client
// promptly, or a proxy holds everything after the first bytes (a
// compressing one) and the client falls back to long-poll.
const ProbeDelay = 250 * time.Millisecond

// maxHeartbeatDigits bounds the `heartbeat` query parsed: longer numbers
// are larger than any Config.Heartbeat and capped without parsing.
const maxHeartbeatDigits = 12

// streamHeartbeat is the heartbeat interval a stream request asks for with
// its `heartbeat` query (milliseconds), within [MinHeartbeat,
// Config.Heartbeat]; absent, Config.Heartbeat. A value that is not a
// non-negative integer is answered with 400 bad_heartbeat and ok false.
func (h *Handler) streamHeartbeat(c *gin.Context) (d time.Duration, ok bool) {
	q, given := rawquery.Get(c.Request.URL.RawQuery, "heartbeat") // no query map kept for the stream's life
	if !given {
		return h.cfg.Heartbeat, true
	}
	ms, err := parseMillis(q)
	if err != nil {
		problem.Write(c, http.StatusBadRequest, "bad_heartbeat", "heartbeat must be a non-negative integer of milliseconds")
		return 0, false
	}
	return clampHeartbeat(ms, h.cfg.Heartbeat), true
}

// parseMillis parses a non-negative decimal integer of any length; one too
// long to matter comes back as the largest value.
func parseMillis(q string) (int64, error) {
	if q == "" {
		return 0, strconv.ErrSyntax
	}
	for _, r := range q {
		if r < '0' || r > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	if len(q) > maxHeartbeatDigits {
		return 1<<62 - 1, nil
	}
	return strconv.ParseInt(q, 10, 64)
}

// clampHeartbeat bounds a requested interval to [MinHeartbeat, most]; a
// server configured below MinHeartbeat keeps its own interval.
func clampHeartbeat(ms int64, most time.Duration) time.Duration {
	least := min(MinHeartbeat, most)
	if ms >= most.Milliseconds() {
		return most
	}
	return max(time.Duration(ms)*time.Millisecond, least)
}
