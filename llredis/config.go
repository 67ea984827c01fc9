package llredis

import (
	"log/slog"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Defaults for Config. The buffer's bounds match longpoll.Memory's.
const (
	DefaultOpTimeout     = 2 * time.Second
	DefaultSweepInterval = time.Minute
	// DefaultEventCache is how many decoded events each instance keeps, so
	// that a fan-out decodes and frames each event once per instance.
	DefaultEventCache = 4096
	// DefaultLocalEvents is the default of Config.LocalEvents.
	DefaultLocalEvents = 10_000
)

// Config configures a Backend. The zero value is usable: every zero field
// takes its default, documented on the field.
type Config struct {
	// Prefix is put before every key, inside a Cluster hash tag:
	// "{lifeline}:meta". Apps sharing one Redis use different prefixes.
	// Default: "lifeline".
	Prefix string

	// OpTimeout bounds each Redis call. A call that fails or runs out of
	// time is answered with longpoll.ErrUnavailable: 503 and Retry-After,
	// never a hang. Default: 2 s.
	OpTimeout time.Duration

	// MaxEventsPerTopic, MaxAge, MaxEventBytes, MaxTopics and DedupWindow
	// bound the buffer exactly as the fields of longpoll.MemoryConfig do,
	// with the same defaults (1 000 events, 10 minutes, 64 KiB, 100 000
	// topics, 2 minutes).
	MaxEventsPerTopic int
	MaxAge            time.Duration
	MaxEventBytes     int
	MaxTopics         int
	DedupWindow       time.Duration

	// SweepInterval is how often this instance drops expired events and
	// empty topics from Redis. Instances take turns: one sweep runs per
	// interval across the cluster. Default: 1 minute.
	SweepInterval time.Duration

	// EventCache is how many decoded events this instance keeps. Default:
	// 4096.
	EventCache int

	// LocalEvents is how many of the newest events this instance keeps in
	// memory, fed by Redis's notices, to answer reads without asking Redis:
	// a fan-out then costs Redis nothing. Reads it cannot answer for sure
	// (an older cursor, say) go to Redis. Default: 10 000.
	LocalEvents int

	// Now is the clock. Default: time.Now. Instances should agree on the
	// time within a second or so: events expire by the clock of the
	// instance that reads them.
	Now func() time.Time

	// Logger receives operational messages. Default: slog.Default().
	Logger *slog.Logger

	// Observer, when set, is told of every Redis command's latency and
	// failure (longpoll.Observer.BackendCommand): New adds a hook to the
	// client for it, so the app's own commands through the same client are
	// counted too; give Lifeline a client of its own to count only its
	// commands. Pass the Observer given to longpoll.Config. Default: nil,
	// no hook.
	Observer longpoll.Observer
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.OpTimeout, DefaultOpTimeout)
	def(&c.MaxAge, longpoll.DefaultMaxAge)
	def(&c.DedupWindow, longpoll.DefaultDedupWindow)
	def(&c.SweepInterval, DefaultSweepInterval)
	defInt(&c.MaxEventsPerTopic, longpoll.DefaultMaxEventsPerTopic)
	defInt(&c.MaxEventBytes, longpoll.DefaultMaxEventBytes)
	defInt(&c.MaxTopics, longpoll.DefaultMaxTopics)
	defInt(&c.EventCache, DefaultEventCache)
	defInt(&c.LocalEvents, DefaultLocalEvents)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
