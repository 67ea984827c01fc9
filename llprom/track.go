package llprom

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/longpoll"
)

// statser is a buffer that can count what it holds: longpoll.Memory.
type statser interface {
	Stats() longpoll.Stats
}

// remoteStatser is a buffer that counts what it holds by asking its store,
// which may fail: llredis's buffer.
type remoteStatser interface {
	StatsContext(ctx context.Context) (longpoll.Stats, error)
}

// scrapeTimeout bounds a remote buffer's count during a scrape.
const scrapeTimeout = 2 * time.Second

// Track registers the gauges read from lp at scrape time:
// lifeline_sessions, and, when lp's buffer can count what it holds
// (longpoll.Memory and llredis's buffer can; the latter asks Redis, two
// commands a scrape), lifeline_buffer_events, lifeline_buffer_bytes and
// lifeline_buffer_topics. Call it once, after longpoll.New.
func (m *Metrics) Track(lp *longpoll.Server) error {
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lifeline_sessions",
			Help: "Live sessions on this instance (with a shared backend, those it served lately)."},
			func() float64 { return float64(lp.Stats().Sessions) }),
	}
	switch buf := lp.Buffer().(type) {
	case statser:
		collectors = append(collectors, &bufferCollector{stats: func() (longpoll.Stats, error) { return buf.Stats(), nil }})
	case remoteStatser:
		collectors = append(collectors, &bufferCollector{stats: func() (longpoll.Stats, error) {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
			defer cancel()
			return buf.StatsContext(ctx)
		}})
	}
	for _, c := range collectors {
		if err := m.cfg.Registerer.Register(c); err != nil {
			return fmt.Errorf("llprom: register: %w", err)
		}
	}
	return nil
}

// bufferCollector reports the buffer's size from one Stats call per
// scrape: Stats visits every topic, so the three gauges share it.
type bufferCollector struct {
	stats func() (longpoll.Stats, error)
}

var (
	bufferEvents = prometheus.NewDesc("lifeline_buffer_events", "Events the buffer retains.", nil, nil)
	bufferBytes  = prometheus.NewDesc("lifeline_buffer_bytes", "What the retained events cost: against MemoryConfig.MaxBytes in memory, their stored size in Redis.", nil, nil)
	bufferTopics = prometheus.NewDesc("lifeline_buffer_topics", "Topics the buffer holds (MemoryConfig.MaxTopics bounds them).", nil, nil)
)

func (c *bufferCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bufferEvents
	ch <- bufferBytes
	ch <- bufferTopics
}

func (c *bufferCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.stats()
	if err != nil {
		// The store did not answer: report nothing rather than zeros; the
		// backend error counters say why.
		return
	}
	ch <- prometheus.MustNewConstMetric(bufferEvents, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(bufferBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(bufferTopics, prometheus.GaugeValue, float64(st.Topics))
}
