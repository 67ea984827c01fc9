package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeline-go/lifeline/llprom"
	"github.com/lifeline-go/lifeline/longpoll"
)

// operations is what -metrics-addr turns on: Lifeline's metrics (and Go's)
// on a registry of the app's own, served with the readiness check on an
// address apart from the public one.
type operations struct {
	addr     string
	registry *prometheus.Registry
	metrics  *llprom.Metrics
}

func newOperations(addr string) (*operations, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := llprom.New(llprom.Config{Registerer: reg})
	if err != nil {
		return nil, err
	}
	return &operations{addr: addr, registry: reg, metrics: m}, nil
}

// observer is the Observer to give Lifeline: none without -metrics-addr.
func (o *operations) observer() longpoll.Observer {
	if o == nil {
		return nil // an untyped nil: a nil *llprom.Metrics would not be
	}
	return o.metrics
}

// serve serves GET /metrics and GET /healthz on o.addr until stop is
// called; it tracks lp's sessions and buffer.
func (o *operations) serve(lp *longpoll.Server, stdout io.Writer, logger *slog.Logger) (stop func(), err error) {
	if err := o.metrics.Track(lp); err != nil {
		return nil, err
	}
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{})))
	r.GET("/healthz", lp.ReadyHandler())
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	srv := newHTTPServer(r)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics server stopped", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "METRICS http://%s/metrics\n", ln.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
}
