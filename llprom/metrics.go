package llprom

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-go/lifeline/longpoll"
)

// DefaultDeliveryBuckets are the buckets of lifeline_delivery_seconds:
// 1 ms to 10 s, where fan-out latency lives.
var DefaultDeliveryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// DefaultCommandBuckets are the buckets of
// lifeline_backend_command_seconds: 0.1 ms to 2.5 s (the default OpTimeout
// is 2 s).
var DefaultCommandBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// maxCommands bounds the distinct command names kept as label values;
// further names count as "other".
const maxCommands = 64

// Config configures Metrics. The zero value is usable.
type Config struct {
	// Registerer receives the metrics. Default:
	// prometheus.DefaultRegisterer.
	Registerer prometheus.Registerer
	// DeliveryBuckets and CommandBuckets are the histograms' buckets.
	// Defaults: DefaultDeliveryBuckets and DefaultCommandBuckets.
	DeliveryBuckets []float64
	CommandBuckets  []float64
	// Now is the clock that delivery latency is measured with, against
	// each event's append time. Default: time.Now.
	Now func() time.Time
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Registerer == nil {
		c.Registerer = prometheus.DefaultRegisterer
	}
	if len(c.DeliveryBuckets) == 0 {
		c.DeliveryBuckets = DefaultDeliveryBuckets
	}
	if len(c.CommandBuckets) == 0 {
		c.CommandBuckets = DefaultCommandBuckets
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Metrics is a longpoll.Observer that counts on Prometheus metrics. Its
// hot paths (a delivery, a publish) touch pre-resolved series only: no map
// lookup, no allocation. Metrics is safe for concurrent use.
type Metrics struct {
	cfg Config

	connections  [transports]prometheus.Gauge
	delivered    [transports]prometheus.Counter
	delivery     [transports]prometheus.Observer
	slow         [transports]prometheus.Counter
	published    prometheus.Counter
	started      prometheus.Counter
	ended        *prometheus.CounterVec
	failures     *prometheus.CounterVec
	switches     *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	resets       *prometheus.CounterVec
	sends        *prometheus.CounterVec
	commands     *prometheus.HistogramVec
	commandFails *prometheus.CounterVec

	commandNames sync.Map // name → struct{}: the command labels in use
	nCommands    atomic.Int32
}

var _ longpoll.Observer = (*Metrics)(nil)

// transports is the number of transport labels (longpoll.Transports).
const transports = 4

func transportIndex(t string) int {
	switch t {
	case longpoll.TransportWebSocket:
		return 0
	case longpoll.TransportSSE:
		return 1
	case longpoll.TransportLongPoll:
		return 2
	}
	return 3
}

// New creates the metrics and registers them on cfg.Registerer. It fails
// when they are registered there already.
func New(cfg Config) (*Metrics, error) {
	cfg = cfg.withDefaults()
	m := &Metrics{cfg: cfg}
	byTransport := []string{"transport"}
	connections := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lifeline_connections",
		Help: "Receivers open now: held long-polls, SSE streams and WebSockets attached to a session."}, byTransport)
	delivered := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_events_delivered_total",
		Help: "Events written to clients' connections."}, byTransport)
	delivery := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lifeline_delivery_seconds",
		Help: "Time from an event's append to the buffer to its write on a client's connection.", Buckets: cfg.DeliveryBuckets}, byTransport)
	slow := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_slow_consumers_total",
		Help: "Streams dropped because their client stopped reading (a write missed its deadline)."}, byTransport)
	m.published = prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeline_events_published_total",
		Help: "Events this instance appended to the buffer: sends, Publish calls, presence changes."})
	m.started = prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeline_sessions_started_total",
		Help: "Sessions negotiated on this instance."})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_sessions_ended_total",
		Help: "Sessions this instance ended, by why."}, []string{"reason"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_transport_failures_total",
		Help: "Transport failures clients reported at negotiate, by transport and reason."}, []string{"transport", "reason"})
	m.switches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_transport_switches_total",
		Help: "Sessions whose new receiver runs on another transport than the previous one (fallback or failback)."}, []string{"from", "to"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_rate_limited_total",
		Help: "Requests refused by a rate limit or the per-address connection cap, by policy."}, []string{"policy"})
	m.resets = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_resets_total",
		Help: "Clients told to reset because the buffer no longer holds what their cursor needs, by cause."}, []string{"cause"})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_sends_total",
		Help: "Client messages handled, by outcome."}, []string{"outcome"})
	m.commands = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lifeline_backend_command_seconds",
		Help: "Latency of each command to the shared backend (Redis), by command.", Buckets: cfg.CommandBuckets}, []string{"command"})
	m.commandFails = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_backend_errors_total",
		Help: "Commands to the shared backend (Redis) that failed or timed out, by command."}, []string{"command"})

	for _, c := range []prometheus.Collector{connections, delivered, delivery, slow, m.published, m.started, m.ended,
		m.failures, m.switches, m.rateLimited, m.resets, m.sends, m.commands, m.commandFails} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("llprom: register: %w", err)
		}
	}
	// Every series of a bounded label exists from the start, at zero, so
	// that rate() and alerts see the first increase.
	for _, t := range longpoll.Transports {
		i := transportIndex(t)
		m.connections[i] = connections.WithLabelValues(t)
		m.delivered[i] = delivered.WithLabelValues(t)
		m.delivery[i] = delivery.WithLabelValues(t)
		m.slow[i] = slow.WithLabelValues(t)
	}
	for _, why := range longpoll.SessionEnds {
		m.ended.WithLabelValues(why)
	}
	for _, p := range longpoll.Policies {
		m.rateLimited.WithLabelValues(p)
	}
	for _, c := range longpoll.ResetCauses {
		m.resets.WithLabelValues(c.String())
	}
	for _, o := range longpoll.SendOutcomes {
		m.sends.WithLabelValues(o)
	}
	return m, nil
}

// ConnectionOpened implements longpoll.Observer.
func (m *Metrics) ConnectionOpened(transport string) { m.connections[transportIndex(transport)].Inc() }

// ConnectionClosed implements longpoll.Observer.
func (m *Metrics) ConnectionClosed(transport string) { m.connections[transportIndex(transport)].Dec() }

// SessionStarted implements longpoll.Observer.
func (m *Metrics) SessionStarted() { m.started.Inc() }

// SessionEnded implements longpoll.Observer.
func (m *Metrics) SessionEnded(why string) { m.ended.WithLabelValues(why).Inc() }

// TransportFailed implements longpoll.Observer.
func (m *Metrics) TransportFailed(transport, reason string) {
	m.failures.WithLabelValues(transport, reason).Inc()
}

// TransportSwitched implements longpoll.Observer.
func (m *Metrics) TransportSwitched(from, to string) { m.switches.WithLabelValues(from, to).Inc() }

// EventPublished implements longpoll.Observer.
func (m *Metrics) EventPublished() { m.published.Inc() }

// EventsDelivered implements longpoll.Observer: one clock reading for the
// batch, one observation per event.
func (m *Metrics) EventsDelivered(transport string, events []*longpoll.Event) {
	i := transportIndex(transport)
	m.delivered[i].Add(float64(len(events)))
	now := m.cfg.Now()
	for _, e := range events {
		m.delivery[i].Observe(max(now.Sub(e.Time).Seconds(), 0))
	}
}

// RateLimited implements longpoll.Observer.
func (m *Metrics) RateLimited(policy string) { m.rateLimited.WithLabelValues(policy).Inc() }

// Reset implements longpoll.Observer.
func (m *Metrics) Reset(cause longpoll.ResetCause) { m.resets.WithLabelValues(cause.String()).Inc() }

// SendDone implements longpoll.Observer.
func (m *Metrics) SendDone(outcome string) { m.sends.WithLabelValues(outcome).Inc() }

// SlowConsumer implements longpoll.Observer.
func (m *Metrics) SlowConsumer(transport string) { m.slow[transportIndex(transport)].Inc() }

// BackendCommand implements longpoll.Observer.
func (m *Metrics) BackendCommand(command string, took time.Duration, err error) {
	command = m.commandLabel(command)
	m.commands.WithLabelValues(command).Observe(took.Seconds())
	if err != nil {
		m.commandFails.WithLabelValues(command).Inc()
	}
}

// commandLabel keeps command labels a bounded set even when the client
// carries an app's own commands: the first maxCommands names are kept,
// later ones count as "other".
func (m *Metrics) commandLabel(name string) string {
	if _, ok := m.commandNames.Load(name); ok {
		return name
	}
	if m.nCommands.Add(1) > maxCommands {
		m.nCommands.Add(-1)
		return "other"
	}
	if _, loaded := m.commandNames.LoadOrStore(name, struct{}{}); loaded {
		m.nCommands.Add(-1)
	}
	return name
}
