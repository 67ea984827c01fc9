// Package redistest starts a redis-server of a test's own, on a free port of
// 127.0.0.1, so that the test may stop and restart it: outage tests cannot
// use the shared Redis at 127.0.0.1:6379.
//
// The server keeps nothing on disk (an empty --save and --appendonly no), so a
// restart comes back empty, as a Redis without persistence does. A test on
// a machine without redis-server is skipped with a message saying so, and
// fails instead under CI=true, where a skipped test would hide a gap.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds how long redis-server may take to accept connections.
const startTimeout = 10 * time.Second

// A Server is one redis-server process owned by a test. Its methods must be
// called from the test's goroutine.
type Server struct {
	t    testing.TB
	Addr string // "127.0.0.1:<port>"
	path string

	cmd *exec.Cmd
	log *readyWriter
}

// Start starts a redis-server for t and stops it when t ends. It skips t
// if redis-server is not installed, unless CI=true, where it fails t.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed (%v); CI must provide it", err)
		}
		t.Skipf("redis-server is not installed (%v): install it (apt-get install redis-server) to run this test", err)
	}
	s := &Server{t: t, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), path: path}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Client returns a go-redis client of the server, closed when the test
// ends. It respects context deadlines (ContextTimeoutEnabled), as
// Lifeline's stores require, and its own timeouts are short, so that calls
// to a stopped server fail fast.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  s.Addr,
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		ContextTimeoutEnabled: true,
	})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server, as a crash would, and waits for it to exit. It
// does nothing if the server is not running.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait() // "signal: killed" is the expected outcome
	s.cmd = nil
}

// Restart starts the server again on the same address, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.log = newReadyWriter("Ready to accept connections")
	cmd := exec.Command(s.path,
		"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--logfile", "", "--daemonize", "no")
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	select {
	case <-s.log.ready:
	case <-time.After(startTimeout):
		s.Stop()
		s.t.Fatalf("redis-server on %s not ready after %v; its log:\n%s", s.Addr, startTimeout, s.log.String())
	}
	// The log line comes just before the listener takes connections on
	// every version; a PING proves it.
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		s.Stop()
		s.t.Fatalf("redis-server on %s does not answer PING: %v; its log:\n%s", s.Addr, err, s.log.String())
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readyWriter keeps a process's output and closes ready when a line
// containing marker has been written.
type readyWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker []byte
	ready  chan struct{}
	seen   bool
}

func newReadyWriter(marker string) *readyWriter {
	return &readyWriter{marker: []byte(marker), ready: make(chan struct{})}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && bytes.Contains(w.buf.Bytes(), w.marker) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
