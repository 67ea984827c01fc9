package negotiate

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
)

// A wsContext is what a WebSocket stream keeps of its upgrade request: the
// *gin.Context its sends are handed to (longpoll.Server.Deliver, and
// through it Config.Authorize and Config.OnMessage), which outlives the
// request on the stream's own goroutine.
//
// It is made on the request's goroutine, before the handler returns, from
// c.Copy() — the copy gin documents for use outside the request's
// goroutine, with Keys and Params copied — and what the copy's Request is
// made of (requestHead). Nothing else of the finished request stays
// reachable: net/http's connection and response, the *http.Request and
// gin's pooled Context are collected when the handler returns, as after
// any request.
//
// The copy's Request and Writer are made at the stream's first send (most
// streams never send, and each costs some 450 bytes): Request is a trimmed
// copy of the upgrade request (requestHead.request) whose Context carries
// the request context's values, live until the stream ends or the Server
// closes (net/http cancels the request's own context when a hijacked
// handler returns), and Writer is a hijackedWriter. Only the stream's
// goroutine uses a wsContext.
type wsContext struct {
	c      *gin.Context // Request and Writer nil until the first send
	head   requestHead
	cancel context.CancelFunc // cancels c.Request's context; nil until made
	// unwatch stops the Server's context from canceling c.Request's.
	unwatch func() bool
}

// newWSContext returns the wsContext of the upgrade request c.
func newWSContext(c *gin.Context) *wsContext {
	cp := c.Copy()
	cp.Request, cp.Writer = nil, nil // the originals stay with the request
	return &wsContext{c: cp, head: headOf(c)}
}

// context returns the stream's *gin.Context for a send, making its Request
// and Writer at the first call. The Request's context ends with the stream
// or with server, the Server's context, whichever ends first: Close waits
// for the stream, and a hook waiting on its context must not hold it up.
func (w *wsContext) context(server context.Context) *gin.Context {
	if w.c.Request == nil {
		ctx, cancel := context.WithCancel(w.head.values)
		w.c.Request, w.cancel = w.head.request(ctx), cancel
		w.unwatch = context.AfterFunc(server, cancel)
		w.c.Writer = &hijackedWriter{status: w.head.status}
	}
	return w.c
}

// end cancels the context of the Request that context made, if it made
// one: the stream has ended.
func (w *wsContext) end() {
	if w.unwatch != nil {
		w.unwatch()
	}
	if w.cancel != nil {
		w.cancel()
	}
}

// requestHead is what a request handler may read of a request once it
// has returned: everything but its body, its connection and its context's
// cancellation.
type requestHead struct {
	method, proto          string
	protoMajor, protoMinor int
	url                    *url.URL
	header                 http.Header
	host, remoteAddr, uri  string
	tls                    *tls.ConnectionState
	// values is the request's context without its cancellation: its
	// values (the app's middleware may have added some), no Done.
	values context.Context
	status int // the status gin's writer had, kept by hijackedWriter
}

func headOf(c *gin.Context) requestHead {
	r := c.Request
	return requestHead{
		method: r.Method, proto: r.Proto, protoMajor: r.ProtoMajor, protoMinor: r.ProtoMinor,
		url: r.URL, header: r.Header, host: r.Host, remoteAddr: r.RemoteAddr, uri: r.RequestURI, tls: r.TLS,
		values: context.WithoutCancel(r.Context()),
		status: c.Writer.Status(),
	}
}

// request is the trimmed request: h's fields, no body, ctx as its context.
func (h *requestHead) request(ctx context.Context) *http.Request {
	r := &http.Request{
		Method:     h.method,
		URL:        h.url,
		Proto:      h.proto,
		ProtoMajor: h.protoMajor,
		ProtoMinor: h.protoMinor,
		Header:     h.header,
		Body:       http.NoBody,
		Host:       h.host,
		RemoteAddr: h.remoteAddr,
		RequestURI: h.uri,
		TLS:        h.tls,
	}
	return r.WithContext(ctx)
}

// A hijackedWriter is the response writer of a WebSocket stream's
// *gin.Context. Nothing can be written: the upgrade hijacked the
// connection, and writes fail with http.ErrHijacked as they did on the
// hijacked response. Header is a map of its own, made when first asked
// for, so that code setting header fields on a send (the send limit's
// RateLimit fields) works as it did on the hijacked response, whose fields
// were never sent either.
type hijackedWriter struct {
	header http.Header
	status int
}

var _ gin.ResponseWriter = (*hijackedWriter)(nil)

func (w *hijackedWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (*hijackedWriter) Write([]byte) (int, error)       { return 0, http.ErrHijacked }
func (*hijackedWriter) WriteString(string) (int, error) { return 0, http.ErrHijacked }
func (*hijackedWriter) WriteHeader(int)                 {}
func (*hijackedWriter) WriteHeaderNow()                 {}
func (*hijackedWriter) Flush()                          {}
func (*hijackedWriter) CloseNotify() <-chan bool        { return nil }
func (*hijackedWriter) Pusher() http.Pusher             { return nil }
func (w *hijackedWriter) Status() int                   { return w.status }
func (*hijackedWriter) Size() int                       { return 0 } // as gin's after a hijack
func (*hijackedWriter) Written() bool                   { return true }
func (*hijackedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrHijacked
}
