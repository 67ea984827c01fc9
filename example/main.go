// Command example is Lifeline's chat demo: rooms, presence, typing
// indicators and server notifications over Lifeline mounted at /rt.
//
//	go run ./example              # http://127.0.0.1:8080
//	go run ./example -addr :9000
//	go run ./example -redis redis://127.0.0.1:6379/0   # any number of instances
//	go run ./example -trusted-proxy 127.0.0.1/32        # behind a local nginx
//	LIFELINE_NOTIFY_TOKEN=s3cret go run ./example   # also mounts POST /api/notify
//	go run ./example -postgres postgres://postgres@127.0.0.1:5432/postgres
//	                     # rows inserted into the notifications table are notifications
//
// Once it listens it prints "LISTENING http://ADDR" on stdout (for scripts
// and tests; -addr 127.0.0.1:0 picks a free port). SIGINT or SIGTERM shuts it
// down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// serverStarted, when set (by tests), receives the app's Lifeline server.
var serverStarted func(*longpoll.Server)

// shutdownTimeout bounds how long shutdown waits for requests in flight.
// A variable so that tests can shorten it.
var shutdownTimeout = 5 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free one)")
	origins := flag.String("allow-origin", strings.Join(defaultOrigins, ","), "comma-separated origins whose pages may use the app besides its own (CORS and WebSocket)")
	redisURL := flag.String("redis", "", "share Lifeline's state through the Redis at this URL (redis://host:port/db), so that several instances serve the same clients; default: in memory")
	proxies := flag.String("trusted-proxy", "", "comma-separated IPs or CIDRs of the proxies in front of the app (e.g. 127.0.0.1/32 behind a local nginx): clients are told apart by the X-Forwarded-For they write; default: none")
	notifyToken := flag.String("notify-token", os.Getenv("LIFELINE_NOTIFY_TOKEN"), "bearer token that POST /api/notify requires; empty leaves the route unmounted (default $LIFELINE_NOTIFY_TOKEN, which keeps it out of ps)")
	postgresURL := flag.String("postgres", "", "relay the rows inserted into the table notifications (column text; created if missing) of this database as notifications (postgres://user@host:port/db; needs wal_level=logical and a role with REPLICATION); default: off")
	metricsAddr := flag.String("metrics-addr", "", "serve Prometheus metrics (GET /metrics) and readiness (GET /healthz) on this address only, e.g. 127.0.0.1:9090; keep it off the public one; default: off")
	flag.Parse()

	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	opts := options{Logger: slog.Default(), AllowOrigins: splitList(*origins), NotifyToken: *notifyToken, TrustedProxies: splitList(*proxies), Postgres: *postgresURL}
	if err := checkProxies(opts.TrustedProxies); err != nil {
		log.Fatal(err)
	}
	if *metricsAddr != "" {
		ops, err := newOperations(*metricsAddr)
		if err != nil {
			log.Fatal(err)
		}
		opts.Operations = ops
	}
	if *redisURL != "" {
		backend, closeRedis, err := connectRedis(*redisURL, opts.Logger, opts.Operations.observer())
		if err != nil {
			log.Fatal(err)
		}
		defer closeRedis() // after run has closed Lifeline's Server
		opts.Backend = backend
	}
	if err := run(ctx, *addr, opts, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run serves the chat on addr until ctx is done, then shuts down: Lifeline
// first, so that held polls end at once with a reconnect hint, then the
// HTTP server, which waits for the requests in flight.
func run(ctx context.Context, addr string, opts options, stdout io.Writer) error {
	logger := opts.Logger
	handler, lp := newApp(opts)
	if serverStarted != nil {
		serverStarted(lp)
	}
	defer lp.Close() // on early return; Close is idempotent
	stopRelay := func() {}
	if opts.Postgres != "" {
		stop, err := startPostgres(ctx, opts.Postgres, lp, logger)
		if err != nil {
			return err
		}
		stopRelay = stop
		defer stop() // on early return; before lp.Close, which was deferred first
	}
	if opts.Operations != nil {
		stopMetrics, err := opts.Operations.serve(lp, stdout, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(handler)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "LISTENING %s\n", url)
	logger.Info("Lifeline chat is up: open "+url+"/ (Ctrl+C to stop)", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	stopRelay() // its appends need lp
	if err := lp.Close(); err != nil {
		logger.Warn("closing Lifeline", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); errors.Is(err, context.DeadlineExceeded) {
		// Requests still running (a client trickling a body, say) are cut:
		// the shutdown is still the one that was asked for.
		logger.Warn("shutdown: cut the requests still in flight", "after", shutdownTimeout)
		_ = srv.Close()
	} else if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHTTPServer returns the http.Server settings a Lifeline app needs:
//
//   - ReadHeaderTimeout bounds a request's headers, which Lifeline cannot
//     (its handlers run after them);
//   - IdleTimeout closes kept-alive connections that carry nothing;
//   - MaxHeaderBytes keeps headers small: Lifeline needs a few hundred bytes;
//   - ReadTimeout and WriteTimeout stay zero: they cover the whole request,
//     so they would cut held polls (25 s) and streams (5 minutes) short.
//     Lifeline bounds what they would: request bodies (BodyTimeout) and
//     every write to a stream (WriteTimeout).
func newHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// splitList splits a comma-separated flag, dropping empty items.
func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// checkProxies validates -trusted-proxy: each entry an IP or a CIDR.
func checkProxies(list []string) error {
	for _, p := range list {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			return fmt.Errorf("-trusted-proxy: %q is neither an IP address nor a CIDR", p)
		}
	}
	return nil
}
