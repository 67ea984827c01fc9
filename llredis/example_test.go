package llredis_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/llredis"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// Every instance of the app builds its limiter on the same Redis: a client
// has one budget of 2 requests, whichever instance it reaches.
func ExampleNewRateLimitStore() {
	addr := os.Getenv("LIFELINE_REDIS_ADDR") // e.g. 127.0.0.1:6379
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true, // required: the store bounds each call by a context deadline
	})
	defer rdb.Close()
	store, err := llredis.NewRateLimitStore(rdb, llredis.StoreConfig{Prefix: "example-" + time.Now().Format("150405.000000")})
	if err != nil {
		fmt.Println(err)
		return
	}

	newInstance := func() *gin.Engine {
		r := gin.New()
		r.GET("/", ratelimit.New(ratelimit.Config{
			Limit:   2,
			Period:  time.Hour,
			Policy:  "api",
			KeyFunc: ratelimit.ClientAddr(),
			Store:   store, // the buckets live in Redis
		}), func(c *gin.Context) { c.String(http.StatusOK, "ok") })
		return r
	}
	instances := []*gin.Engine{newInstance(), newInstance()}

	for i := range 3 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		instances[i%2].ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "api";r=1;t=1800
	// 200 "api";r=0;t=1800
	// 429 "api";r=0;t=1800
}
