package llprom

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/longpoll"
)

// statser is a buffer that can count what it holds: longpoll.Memory.
type statser interface {
	Stats() longpoll.Stats
}

// Track registers the gauges read from lp at scrape time:
// lifeline_sessions, and, when lp's buffer can count what it holds
// (longpoll.Memory can; the Redis buffer cannot, and Redis's own metrics
// cover its memory), lifeline_buffer_events, lifeline_buffer_bytes and
// lifeline_buffer_topics. Call it once, after longpoll.New.
func (m *Metrics) Track(lp *longpoll.Server) error {
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lifeline_sessions",
			Help: "Live sessions on this instance (with a shared backend, those it served lately)."},
			func() float64 { return float64(lp.Stats().Sessions) }),
	}
	if st, ok := lp.Buffer().(statser); ok {
		collectors = append(collectors, &bufferCollector{buf: st})
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
type bufferCollector struct{ buf statser }

var (
	bufferEvents = prometheus.NewDesc("lifeline_buffer_events", "Events the buffer retains.", nil, nil)
	bufferBytes  = prometheus.NewDesc("lifeline_buffer_bytes", "What the retained events cost the buffer's byte budget (MemoryConfig.MaxBytes).", nil, nil)
	bufferTopics = prometheus.NewDesc("lifeline_buffer_topics", "Topics the buffer holds (MemoryConfig.MaxTopics bounds them).", nil, nil)
)

func (c *bufferCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bufferEvents
	ch <- bufferBytes
	ch <- bufferTopics
}

func (c *bufferCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.buf.Stats()
	ch <- prometheus.MustNewConstMetric(bufferEvents, prometheus.GaugeValue, float64(st.Events))
	ch <- prometheus.MustNewConstMetric(bufferBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(bufferTopics, prometheus.GaugeValue, float64(st.Topics))
}
