package llredis

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// An appInstance is one app process of a cluster: a Server on its own
// Backend, Lifeline mounted at /rt, over real TCP.
type appInstance struct {
	lp      *longpoll.Server
	backend *Backend
	srv     *httptest.Server
}

// newCluster starts n instances sharing the Redis of rdb under one prefix.
// Each appInstance has its own Backend, as separate processes would.
func newCluster(t *testing.T, rdb redis.UniversalClient, n int, cfg Config, lcfg longpoll.Config, ncfg negotiate.Config) []*appInstance {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = testPrefix(t, rdb)
	}
	out := make([]*appInstance, n)
	for i := range out {
		in := &appInstance{backend: newTestBackend(t, rdb, cfg)}
		c := lcfg
		c.Backend = in.backend
		in.lp = longpoll.New(c)
		t.Cleanup(func() { in.lp.Close() })
		nc := ncfg
		nc.LongPoll = in.lp
		r := gin.New()
		negotiate.New(nc).Mount(r.Group("/rt"))
		in.srv = httptest.NewServer(r)
		t.Cleanup(in.srv.Close)
		out[i] = in
	}
	return out
}

func urls(cluster []*appInstance) []string {
	out := make([]string, len(cluster))
	for i, in := range cluster {
		out[i] = in.srv.URL
	}
	return out
}
