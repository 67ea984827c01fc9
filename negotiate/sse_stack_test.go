package negotiate

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// maxParkedSSEStack is what a parked SSE stream may hold in goroutine
// stacks after GC: its request goroutine's 8 KiB, net/http's background
// reader's 2 KiB, and 2 KiB to spare. A request goroutine grown to 16 KiB
// that parks with too many frames in use keeps its 16 KiB, and the stream
// holds 18 KiB.
const maxParkedSSEStack = 12 << 10

// growPath is served by TestParkedSSEStackShrinks's server with a deep
// call, so that the connection's goroutine grows its stack to 16 KiB, as
// one that served a negotiate (JSON in and out) before may have.
const growPath = "/grow"

// TestParkedSSEStackShrinks opens parkedStreams SSE streams, each on a
// keep-alive connection whose goroutine grew its stack to 16 KiB on an
// earlier request, waits until every stream is parked, forces two GCs
// and checks the goroutine stacks the streams hold: the runtime halves a
// stack at GC only when less than a quarter of it is in use (an 800-byte
// guard included), so the frames of net/http, gin and the stream that are
// live while it is parked must stay under 3.2 KB. It measures in a second
// run of the test binary (inMeasuringChild).
func TestParkedSSEStackShrinks(t *testing.T) {
	if !inMeasuringChild(t, "sse_stack_test.go") {
		return
	}
	grow := func(c *gin.Context) {
		if c.Request.URL.Path == growPath {
			deepCall(64)
			c.AbortWithStatus(http.StatusNoContent)
		}
	}
	stack, _ := parkedStacks(t, Config{DisableNegotiateLimit: true, MaxHeldPerAddress: parkedStreams}, grow, openGrownSSE)
	t.Logf("per parked SSE stream on a grown connection: goroutine stacks %d bytes", stack)
	if stack > maxParkedSSEStack {
		t.Fatalf("a parked SSE stream holds %d bytes of goroutine stacks, want at most %d: its goroutine parks with too deep a stack to shrink from 16 to 8 KiB", stack, maxParkedSSEStack)
	}
}

// deepCall uses some 14 KiB of stack: its caller's goroutine grows to 16
// or 32 KiB, which GCs then halve as far as its parked frames allow
// (stackInuse runs two).
//
//go:noinline
func deepCall(depth int) byte {
	var pad [192]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		return pad[0]
	}
	return deepCall(depth-1) + pad[depth%len(pad)]
}

// openGrownSSE sends growPath and then an SSE request for s on one
// keep-alive connection, and reads the open event: a client with no
// goroutine of its own.
func openGrownSSE(t *testing.T, srv *httptest.Server, s Response) net.Conn {
	t.Helper()
	conn := dialRaw(t, srv)
	r := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", growPath, srv.Listener.Addr())
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("GET %s: %v %v", growPath, res, err)
	}
	fmt.Fprintf(conn, "GET /rt/sse?cursor=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s: %s\r\n\r\n",
		s.Cursor, srv.Listener.Addr(), longpoll.TokenHeader, s.Token)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the SSE open event: %v", err)
		}
		if strings.HasPrefix(line, "event: open") {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}
