package negotiate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// maxParkedStackPerStream is what a parked WebSocket stream may hold in
// goroutine stacks after GC: its reader's 4 KiB and its stream's 4 KiB,
// and 2 KiB to spare. A stream goroutine that parks with too many frames
// in use keeps its 8 KiB stack (the runtime halves a stack at GC only
// when less than a quarter of it is in use, counting 800 bytes of guard),
// and the stream holds 12 KiB.
const maxParkedStackPerStream = 10 << 10

// TestParkedWebSocketStack opens parkedStreams WebSocket streams over
// real TCP, from clients that run no goroutine of their own, waits until
// every stream's goroutine is parked in its select, forces two GCs, and
// checks the goroutine stacks the streams added (in a second run of the
// test binary: inMeasuringChild).
func TestParkedWebSocketStack(t *testing.T) {
	if !inMeasuringChild(t, "ws_stack_test.go") {
		return
	}
	stack, heap := parkedStacks(t, Config{DisableNegotiateLimit: true, DisableHeldLimit: true}, nil, openRawWS)
	t.Logf("per parked WebSocket stream: goroutine stacks %d bytes, live heap %d bytes", stack, heap)
	if stack > maxParkedStackPerStream {
		t.Fatalf("a parked WebSocket stream holds %d bytes of goroutine stacks, want at most %d: its goroutine parks with too deep a stack to shrink to 4 KiB", stack, maxParkedStackPerStream)
	}
}

// openRawWS opens a WebSocket stream for s over a TCP connection of its
// own, and reads its open frame: a client with no goroutine and no
// buffers left behind, so that the process's stacks are the server's.
func openRawWS(t *testing.T, srv *httptest.Server, s Response) net.Conn {
	t.Helper()
	conn := dialRaw(t, srv)
	fmt.Fprintf(conn, "GET /rt/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Listener.Addr())
	r := bufio.NewReader(conn)
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	auth, _ := json.Marshal(map[string]string{"op": "auth", "token": s.Token, "cursor": s.Cursor})
	if _, err := conn.Write(maskedTextFrame(auth)); err != nil {
		t.Fatal(err)
	}
	open := readServerFrame(t, r)
	if !strings.Contains(string(open), `"op":"open"`) {
		t.Fatalf("first frame = %s, want the open frame", open)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}

// maskedTextFrame is payload as a client's text frame (RFC 6455 §5.2),
// masked with a zero key, which leaves the payload as it is.
func maskedTextFrame(payload []byte) []byte {
	if len(payload) > 125 {
		f := []byte{0x81, 0x80 | 126, byte(len(payload) >> 8), byte(len(payload)), 0, 0, 0, 0}
		return append(f, payload...)
	}
	return append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// readServerFrame reads one unmasked, unfragmented server frame of at
// most 64 KiB and returns its payload.
func readServerFrame(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		t.Fatal(err)
	}
	n := int(head[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return payload
}

// TestWSStreamStaysInItsSizeClass keeps a WebSocket stream's state, which
// every open stream holds on the heap, in the 384-byte size class: one
// more field could take it to 416 bytes.
func TestWSStreamStaysInItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(wsStream{}); got > 384 {
		t.Fatalf("wsStream is %d bytes, want at most 384", got)
	}
}
