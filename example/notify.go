package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// maxNotifyBytes bounds the body of POST /api/notify.
const maxNotifyBytes = 16 << 10

// notification is the data of an event on the notifications topic.
type notification struct {
	Text string `json:"text"`
}

// notifyHandler serves POST /api/notify with {"text": "..."}: it publishes
// the text to every client following notifications. The body must be JSON,
// which a cross-site HTML form cannot send without a CORS preflight.
// Errors are problem documents like Lifeline's own.
func notifyHandler(lp *longpoll.Server) gin.HandlerFunc {
	return func(c *gin.Context) {
		if mt, _, _ := mime.ParseMediaType(c.ContentType()); mt != "application/json" {
			longpoll.WriteError(c, &longpoll.Rejection{Status: http.StatusUnsupportedMediaType, Code: "bad_content_type", Detail: "send application/json"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxNotifyBytes))
		if err != nil {
			longpoll.WriteError(c, &longpoll.Rejection{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Detail: "the body is too large"})
			return
		}
		text, err := parseText(body)
		if err != nil {
			longpoll.WriteError(c, err)
			return
		}
		e, err := lp.Publish(c.Request.Context(), notificationsTopic, longpoll.TypeNotification, notification{Text: text})
		if err != nil {
			longpoll.WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": e.ID.String()})
	}
}

// requireBearer refuses requests without "Authorization: Bearer <token>"
// with 401 and a problem document. Both sides are hashed before the
// constant-time comparison, so that neither the token's bytes nor its
// length leak through timing.
func requireBearer(token string) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="notify"`)
			longpoll.WriteError(c, &longpoll.Rejection{Status: http.StatusUnauthorized, Code: "unauthorized", Detail: "send Authorization: Bearer <the notify token>"})
			return
		}
		c.Next()
	}
}
