package negotiate

import (
	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
)

// upgrade turns the request into a WebSocket connection, or answers it with
// a problem response and returns the error.
func (h *Handler) upgrade(c *gin.Context) (*websocket.Conn, error) {
	return h.wsUpgrader.Upgrade(c.Writer, c.Request, nil)
}
