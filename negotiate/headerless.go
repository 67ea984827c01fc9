package negotiate

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/rawquery"
	"github.com/lifeline-go/lifeline/longpoll"
)

// cookieAuth lets the GET endpoints (poll, presence, history) and DELETE
// {base}/session be authenticated as SSE is: a request without the
// Lifeline-Token header that names its client (?client=<clientId>) and
// carries that client's session cookie. It is for paths whose proxy strips
// the header (PROTOCOL.md §3a); the token still never travels in a URL. A
// GET refreshes the cookie as a cookie-authenticated stream does, so that a
// long-poll client outlives its first Max-Age (DELETE is about to clear it).
func (h *Handler) cookieAuth(c *gin.Context) {
	if c.GetHeader(longpoll.TokenHeader) != "" {
		return
	}
	token := sessionCookie(c, rawquery.Value(c.Request.URL.RawQuery, "client"))
	if token == "" {
		return
	}
	if sess, err := h.lp.Authenticate(token); err == nil && c.Request.Method == http.MethodGet {
		h.setSessionCookie(c, sess.ID, token)
	}
	c.Request.Header.Set(longpoll.TokenHeader, token)
}
