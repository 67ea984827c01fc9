package llpg

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Defaults for Config.
const (
	DefaultSlot           = "lifeline"
	DefaultPublication    = "lifeline"
	DefaultRetryInterval  = time.Second
	DefaultStatusInterval = time.Second
	DefaultEventType      = "change"
)

// A Target receives the relayed events. *longpoll.Server is one: its
// PublishAt appends through the Server's buffer, which must be a
// longpoll.PositionedBuffer (Memory and llredis's are).
type Target interface {
	PublishAt(ctx context.Context, stream, pos string, d longpoll.Draft) (*longpoll.Event, error)
}

// Config configures a Relay. Zero fields take the documented defaults.
type Config struct {
	// ConnString locates the database, as a URL or key=value string (see
	// pgx.ParseConfig). The role must have the REPLICATION attribute (or be
	// a superuser, or rds_replication on RDS). Required.
	ConnString string
	// Target receives the events, usually the app's *longpoll.Server.
	// Required.
	Target Target
	// Tables says which tables are relayed and how. Required: at least one.
	// Each table must be in the publication (Install puts them there).
	Tables []Table
	// Slot names the logical replication slot (1 to 63 of [a-z0-9_]): the
	// durable position of the relay in the database's change log. With the
	// server's system identifier and the database's name it also names the
	// stream whose position the buffer keeps; alone, the advisory lock
	// that lets one instance relay at a time. Default: "lifeline".
	Slot string
	// Publication names the publication the slot decodes: 1 to 63 of
	// [a-z0-9_], as Slot. Default: "lifeline".
	Publication string
	// RetryInterval is how often an instance that does not hold the relay
	// lock tries to take it, and how long a relay waits before it
	// reconnects after an error. It bounds how quickly another instance
	// takes over. Default: 1 second.
	RetryInterval time.Duration
	// StatusInterval is how often the relay tells Postgres how far it has
	// relayed, so that the slot frees WAL. A longer interval means more
	// changes replayed (and skipped by position) after a crash. Default: 1
	// second.
	StatusInterval time.Duration
	// Logger receives operational messages, never row data. Default:
	// slog.Default().
	Logger *slog.Logger
	// OnError, when set, is called with every error the relay recovers
	// from (a lost connection, a change it could not map), besides the log.
	OnError func(error)
}

// Op is a row operation; a Table's Ops is a set of them.
type Op uint8

// Operations.
const (
	Insert Op = 1 << iota
	Update
	Delete
	// AllOps is every operation, the default of Table.Ops.
	AllOps = Insert | Update | Delete
)

// String returns INSERT, UPDATE or DELETE (for a set, the names joined by
// "|").
func (o Op) String() string {
	s := ""
	for _, n := range []struct {
		op   Op
		name string
	}{{Insert, "INSERT"}, {Update, "UPDATE"}, {Delete, "DELETE"}} {
		if o&n.op != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	return s
}

// MarshalJSON encodes the operation as its name.
func (o Op) MarshalJSON() ([]byte, error) { return json.Marshal(o.String()) }

// UnmarshalJSON decodes INSERT, UPDATE or DELETE.
func (o *Op) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, op := range []Op{Insert, Update, Delete} {
		if op.String() == s {
			*o = op
			return nil
		}
	}
	return fmt.Errorf("llpg: unknown operation %q", s)
}

// A Table declares how one table's changes become events.
type Table struct {
	// Schema is the table's schema. Default: "public".
	Schema string
	// Name is the table's name. Required.
	Name string
	// Ops are the operations relayed. Default: AllOps.
	Ops Op
	// Filter, when set, relays only rows that match it, in PostgREST's
	// syntax: "column=op.value" with op one of eq, neq, lt, lte, gt, gte,
	// or "column=in.(a,b,c)". A DELETE is matched against the old row,
	// which holds only the key columns unless the table has REPLICA
	// IDENTITY FULL: a DELETE whose row lacks the column is not relayed.
	Filter string
	// Topic maps a change to the topic of its event. Required. For a
	// DELETE, Change.Row is the old row (see Filter).
	Topic func(c *Change) string
	// Type is the events' type. Default: "change".
	Type string
	// Data builds an event's data from a change. Default: the Change
	// itself (op, schema, table, new, old, key, commit_time, lsn). A row
	// whose event would exceed the buffer's event size is relayed as the
	// Change with New and Old left out and TooLarge set, whatever Data is,
	// so that the client can fetch the row by its key.
	Data func(c *Change) any
}

func (c Config) withDefaults() Config {
	if c.Slot == "" {
		c.Slot = DefaultSlot
	}
	if c.Publication == "" {
		c.Publication = DefaultPublication
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	tables := make([]Table, len(c.Tables))
	for i, t := range c.Tables {
		if t.Schema == "" {
			t.Schema = "public"
		}
		if t.Ops == 0 {
			t.Ops = AllOps
		}
		if t.Type == "" {
			t.Type = DefaultEventType
		}
		tables[i] = t
	}
	c.Tables = tables
	return c
}

// BufferTarget makes a PositionedBuffer a Target, for apps (and tests)
// that hold the buffer rather than the Server. Prefer the Server, which
// counts the events in its metrics.
func BufferTarget(b longpoll.PositionedBuffer) Target { return bufferTarget{b} }

type bufferTarget struct{ b longpoll.PositionedBuffer }

func (t bufferTarget) PublishAt(ctx context.Context, stream, pos string, d longpoll.Draft) (*longpoll.Event, error) {
	return t.b.AppendAt(ctx, stream, pos, d)
}
