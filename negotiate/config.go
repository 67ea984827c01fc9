package negotiate

import (
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Defaults for Config.
const (
	// DefaultHeartbeat is advertised as heartbeatMs: the interval of
	// streaming transports' heartbeats, the HTML standard's advice for
	// proxies that close idle connections.
	DefaultHeartbeat = 15 * time.Second
	// DefaultMaxBodyBytes bounds a negotiate request body.
	DefaultMaxBodyBytes = 16 << 10
)

// Config configures a Handler. The zero value is not usable: LongPoll is
// required; every other zero field takes its default.
type Config struct {
	// LongPoll is the server whose sessions, buffer and handlers back every
	// transport. Required.
	LongPoll *longpoll.Server

	// BasePath is the public path the handlers are mounted under, used to
	// build the URLs negotiate returns (for example "/rt"). Default: the
	// base path of the gin.RouterGroup passed to Mount, or "" for other
	// gin.IRoutes. Set it when a proxy rewrites paths.
	BasePath string

	// Heartbeat is the heartbeat interval advertised to clients.
	// Default: 15 s.
	Heartbeat time.Duration

	// MaxBodyBytes bounds the negotiate request body; larger bodies get 413.
	// Default: 16 KiB.
	MaxBodyBytes int
}

func (c Config) withDefaults() Config {
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}
