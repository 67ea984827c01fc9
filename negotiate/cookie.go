package negotiate

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// cookiePrefix names the per-session cookie: one cookie per session, so two
// tabs of one browser never overwrite each other's.
const cookiePrefix = "ll_"

// setSessionCookie gives the browser the token in a cookie that only the SSE
// transport accepts, for the native EventSource, which cannot send headers.
// HttpOnly keeps it from scripts, SameSite=Strict from cross-site requests.
//
// The cookie lives as long as the session can without a new SSE connection
// refreshing it: a stream keeps the session alive for at most StreamMaxAge,
// and the session then lives SessionTTL after its last request.
func (h *Handler) setSessionCookie(c *gin.Context, clientID, token string) {
	maxAge := h.cfg.StreamMaxAge + h.lp.Config().SessionTTL
	h.writeCookie(c, clientID, token, int((maxAge+time.Second-1)/time.Second))
}

// capSessionCookies clears the oldest session cookies the request carries
// so that, with the one this negotiate sets, the browser holds at most
// Config.MaxSessionCookies: the Cookie header of every request to {base}
// stays small whatever happened to earlier pages. Browsers list cookies of
// one path oldest first (RFC 6265 §5.4), so the first ones go.
//
// At most maxCookieClears go per negotiate, so that a request stuffed with
// cookies cannot make the response as large; the next negotiates clear the
// rest.
func (h *Handler) capSessionCookies(c *gin.Context) {
	var ids []string
	for _, ck := range c.Request.Cookies() {
		if id, ok := strings.CutPrefix(ck.Name, cookiePrefix); ok && id != "" {
			ids = append(ids, id)
		}
	}
	over := len(ids) - (h.cfg.MaxSessionCookies - 1)
	for _, id := range ids[:min(max(0, over), maxCookieClears)] {
		h.clearSessionCookie(c, id)
	}
}

// maxCookieClears bounds the cookies one negotiate clears: more than an
// 8 KiB Cookie header (nginx's limit) can hold.
const maxCookieClears = 128

// clearSessionCookie tells the browser to drop the session's cookie.
func (h *Handler) clearSessionCookie(c *gin.Context, clientID string) {
	h.writeCookie(c, clientID, "", -1)
}

func (h *Handler) writeCookie(c *gin.Context, clientID, value string, maxAge int) {
	path := h.cfg.BasePath
	if path == "" {
		path = "/"
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     cookiePrefix + clientID,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		// Behind a TLS-terminating proxy the request reaching Go is plain
		// HTTP; Config.SecureCookie says what the browser sees.
		Secure:   h.cfg.SecureCookie || c.Request.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// endSession is DELETE {base}/session: the longpoll handler ends the
// session, and the browser is told to drop its cookie.
func (h *Handler) endSession(c *gin.Context) {
	if sess, err := h.lp.Authenticate(c.GetHeader(longpoll.TokenHeader)); err == nil {
		h.clearSessionCookie(c, sess.ID)
	}
	h.endSessionHandler(c)
}

// sessionCookie returns the token from the cookie of the named client.
func sessionCookie(c *gin.Context, clientID string) string {
	if clientID == "" {
		return ""
	}
	v, err := c.Cookie(cookiePrefix + clientID)
	if err != nil {
		return ""
	}
	return v
}
