package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
)

// Paths shared by both servers, outside any Lifeline base path.
const (
	pathHeld    = "/held"    // GET: the number of poll or stream requests in their handler, or of open WebSocket streams where the handler returns after the upgrade (centrifuge, Lifeline)
	pathPing    = "/ping"    // GET: 204, to warm a connection
	pathPublish = "/publish" // POST ?k=<n>: publish one event whose data carries round n
	pathStats   = "/stats"   // GET [?gc]: the process's CPU time and live heap (see stats_server.go)
	benchTopic  = "bench"
)

// The transports the load generator measures.
const (
	transportLongPoll  = "longpoll"
	transportWebSocket = "websocket"
	transportSSE       = "sse"
)

var allTransports = []string{transportLongPoll, transportWebSocket, transportSSE}

// heldPath is the request path whose handlers the server counts: the poll
// or the stream of transport, under base ("" for the floor, "/rt" for
// Lifeline).
func heldPath(base, transport string) string {
	switch transport {
	case transportWebSocket:
		return base + "/ws"
	case transportSSE:
		return base + "/sse"
	}
	return base + "/poll"
}

// childMain runs one server in this process (the hidden -serve mode): it
// prints "LISTENING <addr> <GOMAXPROCS>" once ready and serves until its
// standard input closes or it gets SIGINT/SIGTERM.
func childMain(args []string) int {
	fs := flag.NewFlagSet("lifeline-load -serve", flag.ContinueOnError)
	kind := fs.String("serve", "", "server to run: floor, lifeline, or redis (Lifeline on an llredis Backend)")
	transport := fs.String("transport", transportLongPoll, "transport measured: longpoll, websocket or sse (the floor serves only it; /held counts its requests)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	var settings serverSettings
	settings.flags(fs)
	withPprof := fs.Bool("pprof", false, "mount net/http/pprof at /debug/pprof/")
	var shared redisTarget
	fs.StringVar(&shared.url, "redis", "", "redis: the Redis URL")
	fs.StringVar(&shared.prefix, "prefix", "", "redis: the key prefix shared by the instances of one run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := serve(*kind, *transport, *addr, settings, *withPprof, shared); err != nil {
		fmt.Fprintln(os.Stderr, "lifeline-load -serve:", err)
		return 1
	}
	return 0
}

func serve(kind, transport, addr string, settings serverSettings, withPprof bool, shared redisTarget) error {
	if withPprof {
		// Finer heap samples than the default 512 KiB, so that per-poll
		// allocation sites show; the profiled run is perturbed anyway.
		runtime.MemProfileRate = 4096
		runtime.SetMutexProfileFraction(5)
	}
	if err := raiseNoFile(); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not a loopback IP", addr)
	}
	gin.SetMode(gin.ReleaseMode)
	if !slices.Contains(allTransports, transport) {
		return fmt.Errorf("unknown transport %q", transport)
	}
	var (
		h        http.Handler
		pollPath string
		heldFn   func() int64 // nil: count the requests in pollPath's handler
		shutdown func()
	)
	switch kind {
	case targetFloor:
		h, shutdown = newFloor(transport)
		pollPath = heldPath("", transport)
	case targetLifeline:
		var streams func() int64
		h, streams, shutdown = newLifeline(settings, nil)
		pollPath = heldPath("/rt", transport)
		if transport == transportWebSocket {
			heldFn = streams
		}
	case targetCentrifuge:
		if h, heldFn, shutdown, err = newCentrifuge(transport, settings.CentrifugeWriteDelay); err != nil {
			return err
		}
		pollPath = heldPath("", transport)
	case targetRedis:
		backend, closeBackend, err := shared.connect()
		if err != nil {
			return err
		}
		var (
			closeServer func()
			streams     func() int64
		)
		h, streams, closeServer = newLifeline(settings, backend)
		shutdown = func() { closeServer(); closeBackend() } // the Server before its Backend
		pollPath = heldPath("/rt", transport)
		if transport == transportWebSocket {
			heldFn = streams
		}
	default:
		return fmt.Errorf("unknown server %q: want floor, lifeline, centrifuge or redis", kind)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &instrumented{next: h, pollPath: pollPath, heldFn: heldFn, pprof: withPprof}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("LISTENING %s %d\n", ln.Addr(), runtime.GOMAXPROCS(0))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case err := <-served:
		shutdown()
		return err
	case <-stop:
	case <-eof:
	}
	shutdown() // releases held polls so Shutdown does not wait for them
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// instrumented wraps a server with what the load generator reads, the same
// way for both servers: the count of poll (or stream) requests inside their
// handler,
// a ping, and optionally pprof. None of it goes through gin.
type instrumented struct {
	next     http.Handler
	pollPath string
	held     atomic.Int64
	heldFn   func() int64 // if set, what /held answers instead of held
	pprof    bool
}

func (s *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == s.pollPath:
		s.held.Add(1)
		defer s.held.Add(-1)
		s.next.ServeHTTP(w, r)
	case p == pathHeld:
		n := s.held.Load()
		if s.heldFn != nil {
			n = s.heldFn()
		}
		b := strconv.AppendInt(nil, n, 10)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	case p == pathPing:
		w.WriteHeader(http.StatusNoContent)
	case p == pathStats:
		writeStats(w, r.URL.Query().Has("gc"))
	case s.pprof && len(p) >= len("/debug/pprof/") && p[:len("/debug/pprof/")] == "/debug/pprof/":
		switch p {
		case "/debug/pprof/profile":
			pprof.Profile(w, r)
		default:
			pprof.Index(w, r)
		}
	default:
		s.next.ServeHTTP(w, r)
	}
}

// raiseNoFile raises the soft limit on open files to the hard limit.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	return nil
}

// noFileLimit returns the soft limit on open files.
func noFileLimit() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return lim.Cur
}
