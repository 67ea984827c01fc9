package longpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// A Pinger is a Backend that can tell whether its store answers:
// llredis.Backend is one. Ready pings it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ready reports whether the Server can serve: it is not closing, a Backend
// that is a Pinger answers its ping, and the buffer answers Head. The error
// wraps ErrClosed or ErrUnavailable, or is the buffer's own.
func (s *Server) Ready(ctx context.Context) error {
	if s.isClosing() {
		return ErrClosed
	}
	if p, ok := s.cfg.Backend.(Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			if !errors.Is(err, ErrUnavailable) {
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return err
		}
	}
	_, err := s.buf.Head(ctx)
	return err
}

// ReadyHandler returns a readiness handler for the app to mount where its
// orchestrator probes (GET /healthz, say, ideally not on the public
// address: with Redis each probe costs a ping and a script): 200
// {"status":"ready"} while Ready succeeds, else 503 with Retry-After and a
// problem body.
func (s *Server) ReadyHandler() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		if err := s.Ready(c.Request.Context()); err != nil {
			WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}
