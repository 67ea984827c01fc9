// Command testserver runs Lifeline for the client's and the browser's tests:
// Lifeline mounted at /rt with test-only control endpoints under /test.
// It prints "LISTENING http://ADDR" once ready and exits on SIGINT or
// SIGTERM. Never expose it: the control endpoints need no authentication.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	pollTimeout := flag.Duration("poll-timeout", longpoll.DefaultPollTimeout, "long-poll hold")
	sessionTTL := flag.Duration("session-ttl", longpoll.DefaultSessionTTL, "session idle expiry")
	flag.Parse()
	if err := run(*addr, *pollTimeout, *sessionTTL); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, pollTimeout, sessionTTL time.Duration) error {
	gin.SetMode(gin.ReleaseMode)
	var applied atomic.Int64
	lp := longpoll.New(longpoll.Config{
		PollTimeout: pollTimeout,
		SessionTTL:  sessionTTL,
		OnMessage: func(_ *gin.Context, m longpoll.Message) (longpoll.Draft, error) {
			applied.Add(1)
			return m.Draft(), nil
		},
	})
	defer lp.Close()

	r := gin.New()
	r.Use(gin.Recovery())
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))
	r.POST("/test/publish", func(c *gin.Context) {
		var req struct {
			Topic string          `json:"topic"`
			Type  string          `json:"type"`
			Data  json.RawMessage `json:"data"`
			TTLMs int64           `json:"ttlMs"`
		}
		if err := c.ShouldBindJSON(&req); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		e, err := lp.PublishDraft(c, longpoll.Draft{Topic: req.Topic, Type: req.Type, Data: req.Data, TTL: time.Duration(req.TTLMs) * time.Millisecond})
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": e.ID.String()})
	})
	r.POST("/test/expire-sessions", func(c *gin.Context) {
		lp.EndSessions()
		c.Status(http.StatusNoContent)
	})
	r.GET("/test/sends", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"count": applied.Load()})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("LISTENING http://%s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-stop:
	}
	lp.Close() // release held polls first so Shutdown does not wait for them
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
