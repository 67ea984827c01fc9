package main

import (
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// defaultOrigins are the other origins allowed to use the app: a front-end
// dev server, as a team would run while working on the page.
var defaultOrigins = []string{"http://localhost:5173"}

// corsMiddleware lets pages from origins call Lifeline and the API. The
// list is explicit: never "*", because the requests carry a session token.
// Browsers hide response headers from cross-origin scripts unless they are
// exposed, and the client needs the rate-limit fields and Retry-After to
// back off.
//
// WebSocket handshakes pass through untouched: browsers apply no CORS to
// them, and Lifeline checks their Origin itself against the same list,
// refusing a foreign one with its forbidden_origin problem document rather
// than the empty 403 of the CORS middleware.
func corsMiddleware(origins []string) gin.HandlerFunc {
	grant := cors.New(cors.Config{
		AllowOrigins:     origins,
		AllowMethods:     []string{"GET", "POST", "DELETE"},
		AllowHeaders:     []string{"Content-Type", longpoll.TokenHeader, "Last-Event-ID", "Authorization"},
		ExposeHeaders:    ratelimit.ExposedHeaders(ratelimit.HeadersIETF),
		AllowCredentials: true, // the SSE session cookie
		MaxAge:           12 * time.Hour,
	})
	return func(c *gin.Context) {
		if strings.EqualFold(c.GetHeader("Upgrade"), "websocket") {
			c.Next()
			return
		}
		grant(c)
	}
}
