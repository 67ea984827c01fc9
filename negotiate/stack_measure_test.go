package negotiate

import (
	"bytes"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// What the parked-stack tests share: TestParkedWebSocketStack and
// TestParkedSSEStackShrinks open parkedStreams streams, wait until every
// one is parked, and measure the goroutine stacks they hold after GC.

// parkedStreams is how many WebSocket streams TestParkedWebSocketStack
// opens: enough that a per-stream difference of 4 KiB stands far above
// what the rest of the process moves (per-P stack caches, stack spans
// partly in use).
const parkedStreams = 200

// stackChildEnv marks the second run of the test binary, in which the
// parked-stack tests measure.
const stackChildEnv = "LIFELINE_STACK_TEST_CHILD"

// inMeasuringChild reports whether t should measure: in the second run
// of the test binary, which it otherwise starts, with
// GODEBUG=adaptivestackstart=0, logging the lines file printed there and
// failing t if that run failed. Without that setting, new goroutines
// start with the average stack in use at the last GC, which in a test
// process of a few goroutines can be 8 KiB, and a goroutine started with
// 8 KiB keeps it, whatever the stream does. Under -race, whose
// instrumentation changes every frame's size, t is skipped.
func inMeasuringChild(t *testing.T, file string) bool {
	t.Helper()
	if raceEnabled {
		t.Skip("the race detector's instrumentation changes every frame's size")
	}
	if os.Getenv(stackChildEnv) != "" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), stackChildEnv+"=1", "GODEBUG=adaptivestackstart=0")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, file) {
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the measuring run failed (%v):\n%s", err, out)
	}
	return false
}

// parkedStacks serves negotiate with ncfg (and middleware before it),
// negotiates parkedStreams sessions, opens a stream for each with open,
// waits until every stream's goroutine is parked in its select, and
// returns the goroutine stacks and the live heap the streams added, per
// stream, each read after two GCs.
func parkedStacks(t *testing.T, ncfg Config, middleware gin.HandlerFunc, open func(*testing.T, *httptest.Server, Response) net.Conn) (stack, heap int64) {
	t.Helper()
	var mw []gin.HandlerFunc
	if middleware != nil {
		mw = append(mw, middleware)
	}
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, MaxSessionsPerAddr: parkedStreams,
		Logger: slog.New(slog.DiscardHandler)}, ncfg, mw...)
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
	stackBefore, heapBefore := stackInuse()

	conns := make([]net.Conn, parkedStreams)
	for i, s := range sessions {
		conns[i] = open(t, srv, s)
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
	stackAfter, heapAfter := stackInuse()
	return (int64(stackAfter) - int64(stackBefore)) / parkedStreams, (int64(heapAfter) - int64(heapBefore)) / parkedStreams
}

// dialRaw connects to srv from a client with no goroutine of its own,
// which has waitTimeout for its handshake.
func dialRaw(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(waitTimeout))
	return conn
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
