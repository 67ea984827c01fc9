package negotiate

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// cookieMaxAge bounds the cookie's life in the browser. The session itself
// expires on the server much sooner when unused; every SSE reconnect
// refreshes the cookie, so a long-lived page keeps it.
const cookieMaxAge = time.Hour

// cookiePrefix names the per-session cookie: one cookie per session, so two
// tabs of one browser never overwrite each other's.
const cookiePrefix = "ll_"

// setSessionCookie gives the browser the token in a cookie that only the SSE
// transport accepts, for the native EventSource, which cannot send headers.
// HttpOnly keeps it from scripts, SameSite=Strict from cross-site requests.
func (h *Handler) setSessionCookie(c *gin.Context, clientID, token string) {
	path := h.cfg.BasePath
	if path == "" {
		path = "/"
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     cookiePrefix + clientID,
		Value:    token,
		Path:     path,
		MaxAge:   int(cookieMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   c.Request.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
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
