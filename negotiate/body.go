package negotiate

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// boundBody gives a request's body longpoll.Config.BodyTimeout to arrive,
// counted from before any middleware runs. The handlers bound their own
// reads too, but a request answered without its body being read — refused
// by the negotiate limit, or for an unknown token — is not safe without
// this: before its response goes out, net/http reads and discards what is
// left of the body (up to 256 KiB), with no deadline of its own, for as
// long as the client trickles it. With the deadline the discard fails, the
// answer goes out and the connection is closed. net/http clears the
// deadline itself once a body has been read to its end.
func (h *Handler) boundBody(c *gin.Context) {
	if r := c.Request; r.Body != nil && r.Body != http.NoBody {
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(h.lp.Config().BodyTimeout))
	}
	c.Next()
}
