package negotiate

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
)

// boundBody guards the routes that take a body (negotiate, send) against
// clients that send it slowly, before any other middleware runs:
//
//   - the body gets longpoll.Config.BodyTimeout to arrive;
//   - requests in flight count, per client address, against
//     Config.MaxHeldPerAddress (apart from polls and streams), so that one
//     address cannot hold thousands of them even for that long;
//   - a body the handler did not read to its end is given up at once.
//     Before a response goes out, net/http reads and discards what is left
//     of an unread body (up to 256 KiB) for as long as the client trickles
//     it — a request refused by the negotiate limit or for an unknown
//     token would otherwise hold its connection and goroutine regardless.
//
// net/http clears the read deadline itself once a body is read to its end.
func (h *Handler) boundBody(c *gin.Context) {
	r := c.Request
	if r.Body == nil || r.Body == http.NoBody {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	release, ok := h.hold(c, h.bodies)
	if !ok {
		_ = rc.SetReadDeadline(time.Now()) // the body is not wanted
		p := h.tooManyHeld()
		problem.WriteRetry(c, p.Status, p.Code, p.Detail, p.RetryAfter)
		return
	}
	defer release()
	_ = rc.SetReadDeadline(time.Now().Add(h.lp.Config().BodyTimeout))
	body := &eofBody{ReadCloser: r.Body}
	r.Body = body
	c.Next()
	if !body.eof {
		_ = rc.SetReadDeadline(time.Now()) // net/http's discard fails at once
	}
}

// eofBody notes whether a request body was read to its end.
type eofBody struct {
	io.ReadCloser
	eof bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}
