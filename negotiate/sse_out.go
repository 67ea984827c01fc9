package negotiate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// openStream starts the SSE response and returns where to write it, the
// context that ends when the client goes away, and a function to call when
// the stream is over.
//
// Normally the stream goes through the response writer. But a compression
// middleware mounted before Lifeline (gin-contrib/gzip, say) has already
// wrapped the writer and set Content-Encoding; everything written through
// it would be compressed, and a compressor buffers. Lifeline never
// compresses a stream, so then it takes the connection over (HTTP/1.x) and
// writes an uncompressed response that ends when the connection closes.
func (h *Handler) openStream(c *gin.Context) (*sseWriter, context.Context, func(), error) {
	w := &sseWriter{timeout: h.cfg.WriteTimeout, maxBytes: h.cfg.StreamMaxBytes}
	if c.Writer.Header().Get("Content-Encoding") == "" || c.Request.ProtoMajor != 1 {
		sseHeaders(c.Writer.Header())
		c.Status(http.StatusOK)
		w.out = responseOut{c.Writer, http.NewResponseController(c.Writer)}
		return w, c.Request.Context(), func() {}, nil
	}
	conn, rw, err := c.Writer.Hijack()
	if err != nil {
		return nil, nil, nil, err
	}
	hdr := http.Header{}
	sseHeaders(hdr)
	hdr.Set("Connection", "close") // the body ends when the connection does
	for _, cookie := range c.Writer.Header().Values("Set-Cookie") {
		hdr.Add("Set-Cookie", cookie)
	}
	out := &connOut{conn: conn, w: rw.Writer}
	fmt.Fprintf(out.w, "HTTP/1.1 200 OK\r\n")
	_ = hdr.Write(out.w)
	_, _ = out.w.WriteString("\r\n")

	// The hijacked connection no longer cancels the request's context when
	// the client leaves; a reader owned by this stream does.
	ctx, cancel := context.WithCancel(c.Request.Context())
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer cancel()
		_, _ = io.Copy(io.Discard, rw.Reader) // returns when the client closes or conn is closed
	}()
	w.out = out
	return w, ctx, func() {
		_ = out.w.Flush()
		_ = conn.Close()
		reader.Wait()
		cancel()
	}, nil
}

// responseOut writes through the response writer.
type responseOut struct {
	w  gin.ResponseWriter
	rc *http.ResponseController
}

func (o responseOut) Write(b []byte) (int, error)        { return o.w.Write(b) }
func (o responseOut) Flush() error                       { return o.rc.Flush() }
func (o responseOut) SetWriteDeadline(t time.Time) error { return o.rc.SetWriteDeadline(t) }

// connOut writes to a hijacked connection.
type connOut struct {
	conn net.Conn
	w    *bufio.Writer
}

func (o *connOut) Write(b []byte) (int, error)        { return o.w.Write(b) }
func (o *connOut) Flush() error                       { return o.w.Flush() }
func (o *connOut) SetWriteDeadline(t time.Time) error { return o.conn.SetWriteDeadline(t) }
