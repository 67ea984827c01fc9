package llredis_test

import (
	"log"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/llredis"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Every instance of the app builds its Server on a Backend of the same
// Redis: then any request of any client may reach any instance, behind a
// plain round-robin load balancer.
func ExampleNew() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // required: every call is bounded by a context deadline
	})
	defer rdb.Close()
	backend, err := llredis.New(rdb, llredis.Config{Prefix: "chat"})
	if err != nil {
		log.Fatal(err)
	}
	defer backend.Close() // after the Server

	lp := longpoll.New(longpoll.Config{Backend: backend})
	defer lp.Close()
	r := gin.New()
	// Negotiate's per-address limit and failure memory come from the
	// Backend too.
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))
	_ = r.Run("127.0.0.1:8080")
}
