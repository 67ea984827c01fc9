package negotiate

import (
	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
)

// upgrade turns the request into a WebSocket connection, or answers it with
// a problem response and returns the error. The connection's network side
// is a corkConn, so that a batch of events goes out in one write.
func (h *Handler) upgrade(c *gin.Context) (*websocket.Conn, error) {
	return h.wsUpgrader.Upgrade(corkingWriter{c.Writer}, c.Request, nil)
}

// corkOf returns conn's corkConn, or nil for a connection that was not
// upgraded by upgrade.
func corkOf(conn *websocket.Conn) *corkConn {
	cc, _ := conn.NetConn().(*corkConn)
	return cc
}
