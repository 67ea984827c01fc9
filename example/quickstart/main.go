// Command quickstart is the README's quick start, compiled and tested: a
// Gin app with Lifeline at /rt and a route that publishes to every client.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	lp := longpoll.New(longpoll.Config{
		// Who may follow or publish to which topic. Nil allows every topic.
		Authorize: func(c *gin.Context, clientID, topic string, a longpoll.Action) error {
			return nil
		},
		PresenceTopics: longpoll.TopicsWithPrefix("room:"), // joins and leaves in rooms only
	})

	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery())
	// Clients connect directly: believe no X-Forwarded-For. Behind your own
	// proxies, list them here and in negotiate.Config.NegotiateLimit.KeyFunc.
	if err := r.SetTrustedProxies(nil); err != nil {
		log.Fatal(err)
	}
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt")) // with /rt/lifeline.js

	r.POST("/deploy-done", func(c *gin.Context) {
		ev, err := lp.Publish(c.Request.Context(), "notifications", "notification", gin.H{"text": "deployed"})
		if err != nil {
			longpoll.WriteError(c, err) // e.g. 503 shutting_down, with Retry-After
			return
		}
		c.JSON(http.StatusOK, gin.H{"id": ev.ID.String()})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("listening on http://%s", ln.Addr())

	<-ctx.Done()
	// First Lifeline: held polls end now with 503 and Retry-After, not in 25 s.
	if err := lp.Close(); err != nil {
		log.Printf("lifeline: %v", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown: %v", err)
		srv.Close()
	}
}
