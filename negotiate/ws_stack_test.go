package negotiate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/lifeline-go/lifeline/longpoll"
)

// parkedStreams is how many WebSocket streams TestParkedWebSocketStack
// opens: enough that a per-stream difference of 4 KiB stands far above
// what the rest of the process moves (per-P stack caches, stack spans
// partly in use).
const parkedStreams = 200

// maxParkedStackPerStream is what a parked WebSocket stream may hold in
// goroutine stacks after GC: its reader's 4 KiB and its stream's 4 KiB,
// and 2 KiB to spare. A stream goroutine that parks with too many frames
// in use keeps its 8 KiB stack (the runtime halves a stack at GC only
// when less than a quarter of it is in use, counting 800 bytes of guard),
// and the stream holds 12 KiB.
const maxParkedStackPerStream = 10 << 10

// stackChildEnv marks the test binary that TestParkedWebSocketStack runs
// again to measure.
const stackChildEnv = "LIFELINE_STACK_TEST_CHILD"

// TestParkedWebSocketStack opens parkedStreams WebSocket streams over
// real TCP, from clients that run no goroutine of their own, waits until
// every stream's goroutine is parked in its select, forces two GCs, and
// checks the goroutine stacks the streams added.
//
// It measures in a second run of the test binary with
// GODEBUG=adaptivestackstart=0, where every goroutine starts with a 2 KiB
// stack: otherwise new goroutines start with the average stack in use at
// the last GC, which in a test process of a few goroutines can be 8 KiB,
// and a reader started with 8 KiB keeps it, whatever the stream does.
func TestParkedWebSocketStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation changes every frame's size")
	}
	if os.Getenv(stackChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestParkedWebSocketStack$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), stackChildEnv+"=1", "GODEBUG=adaptivestackstart=0")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "ws_stack_test.go") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestParkedWebSocketStack") {
			t.Fatalf("the measuring run failed (%v):\n%s", err, out)
		}
		return
	}
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, MaxSessionsPerAddr: parkedStreams,
		Logger: slog.New(slog.DiscardHandler)},
		Config{DisableNegotiateLimit: true, DisableHeldLimit: true})
	sessions := make([]Response, parkedStreams)
	for i := range sessions {
		sessions[i] = negotiateOK(t, srv, `{"topics":["room:a"]}`)
	}
	// The negotiations' keep-alive connections each hold a goroutine on
	// the server: gone before the baseline.
	srv.Client().CloseIdleConnections()
	waitFor(t, "the negotiations' connections to end", func() bool {
		return goroutinesIn("", "net/http.(*conn).serve") == 0
	})
	before, heapBefore := stackInuse()

	conns := make([]net.Conn, parkedStreams)
	for i, s := range sessions {
		conns[i] = openRawWS(t, srv, s)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		waitFor(t, "the streams to end", func() bool { return lp.Stats().Receivers == 0 })
	}()
	waitFor(t, "every stream to park", func() bool {
		return goroutinesIn("[select", "negotiate.(*stream).") == parkedStreams
	})
	after, heapAfter := stackInuse()

	perStream := (int64(after) - int64(before)) / parkedStreams
	t.Logf("per parked WebSocket stream: goroutine stacks %d bytes (StackInuse %d → %d), live heap %d bytes",
		perStream, before, after, (int64(heapAfter)-int64(heapBefore))/parkedStreams)
	if perStream > maxParkedStackPerStream {
		t.Fatalf("a parked WebSocket stream holds %d bytes of goroutine stacks, want at most %d: its goroutine parks with too deep a stack to shrink to 4 KiB", perStream, maxParkedStackPerStream)
	}
}

// stackInuse is MemStats.StackInuse after two GCs, and HeapAlloc: the
// first GC shrinks the stacks of parked goroutines, and frees the stacks
// of dead ones; the second frees the stack spans the first emptied.
func stackInuse() (stack, heap uint64) {
	runtime.GC()
	runtime.GC()
	m := new(runtime.MemStats) // 5 KB: off the stack being measured
	runtime.ReadMemStats(m)
	return m.StackInuse, m.HeapAlloc
}

// goroutinesIn counts the goroutines whose state starts with state and
// whose stack holds fn.
func goroutinesIn(state, fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		head, stack, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(head, []byte(state)) && bytes.Contains(stack, []byte(fn)) {
			count++
		}
	}
	return count
}

// openRawWS opens a WebSocket stream for s over a TCP connection of its
// own, and reads its open frame: a client with no goroutine and no
// buffers left behind, so that the process's stacks are the server's.
func openRawWS(t *testing.T, srv *httptest.Server, s Response) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
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
