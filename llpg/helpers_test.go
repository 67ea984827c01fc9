package llpg

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeline-go/lifeline/internal/testkit/pgtest"
	"github.com/lifeline-go/lifeline/longpoll"
)

// testSchema is the tables most tests relay: tasks (default replica
// identity: deletes carry the key), cards (REPLICA IDENTITY FULL, mapped to
// board topics), and fence, whose rows tell a test that everything
// committed before them has been relayed.
const testSchema = `
CREATE TABLE tasks (id bigserial PRIMARY KEY, title text NOT NULL, done bool NOT NULL DEFAULT false, note text);
CREATE TABLE cards (id bigserial PRIMARY KEY, board_id int NOT NULL, title text NOT NULL);
ALTER TABLE cards REPLICA IDENTITY FULL;
CREATE TABLE fence (id bigserial PRIMARY KEY);
`

// testTables relays the test schema: tasks to "tasks", cards to
// "board:<board_id>", fence to "fence".
func testTables() []Table {
	return []Table{
		{Name: "tasks", Topic: func(*Change) string { return "tasks" }},
		{Name: "cards", Topic: func(c *Change) string { return fmt.Sprint("board:", c.Row()["board_id"]) }},
		{Name: "fence", Topic: func(*Change) string { return "fence" }},
	}
}

// quiet is a logger for relays whose warnings the test expects.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// setupDB creates a database with the test schema on url's server (the
// machine's when url is empty), installs cfg's publication and slot, and
// returns the database's connection string with cfg completed.
func setupDB(t *testing.T, url string, cfg Config) (Config, *pgx.Conn) {
	t.Helper()
	if url == "" {
		url = pgtest.DB(t)
	}
	conn := pgtest.Connect(t, url)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, testSchema); err != nil {
		t.Fatal(err)
	}
	if cfg.Tables == nil {
		cfg.Tables = testTables()
	}
	if err := Install(ctx, conn, cfg); err != nil {
		t.Fatalf("Install: %v", err)
	}
	cfg.ConnString = url
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 100 * time.Millisecond
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	return cfg, conn
}

// startRelay starts a relay of cfg, closed when t ends.
func startRelay(t *testing.T, cfg Config) *Relay {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// memory returns a Memory buffer closed when t ends.
func memory(t *testing.T, cfg longpoll.MemoryConfig) *longpoll.Memory {
	t.Helper()
	m := longpoll.NewMemory(cfg)
	t.Cleanup(func() { m.Close() })
	return m
}

// mustExec runs SQL on conn, failing t.
func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// fence commits a fence row and waits until its event is in buf: every
// change committed before it has then been relayed, since the relay keeps
// commit order. It returns every event of topics from start to the fence.
func fence(t *testing.T, conn *pgx.Conn, buf longpoll.Buffer, start longpoll.Cursor, topics ...string) []*longpoll.Event {
	t.Helper()
	var id int64
	if err := conn.QueryRow(context.Background(), "INSERT INTO fence DEFAULT VALUES RETURNING id").Scan(&id); err != nil {
		t.Fatalf("fence: %v", err)
	}
	var events []*longpoll.Event
	after := start
	deadline := time.Now().Add(60 * time.Second)
	sub, err := buf.Subscribe(append([]string{"fence"}, topics...))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for {
		b, err := buf.Read(context.Background(), append([]string{"fence"}, topics...), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if b.Reset {
			t.Fatalf("read from %v: reset (%v)", after, b.Cause)
		}
		for _, e := range b.Events {
			if e.Topic != "fence" {
				events = append(events, e)
				continue
			}
			var c wireChange
			if err := json.Unmarshal(e.Data, &c); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c.New["id"]) == strconv.FormatInt(id, 10) {
				return events
			}
		}
		after = b.Cursor
		if b.More {
			continue
		}
		select {
		case <-sub.C():
		case <-time.After(time.Until(deadline)):
			t.Fatalf("fence %d not relayed within a minute (%d events so far)", id, len(events))
		}
	}
}

// decode decodes an event's data as a Change (with Op as text).
type wireChange struct {
	Op         string         `json:"op"`
	Table      string         `json:"table"`
	New        map[string]any `json:"new"`
	Old        map[string]any `json:"old"`
	Key        map[string]any `json:"key"`
	CommitTime time.Time      `json:"commit_time"`
	LSN        string         `json:"lsn"`
	TooLarge   bool           `json:"too_large"`
}

func decode(t *testing.T, e *longpoll.Event) wireChange {
	t.Helper()
	var c wireChange
	if err := json.Unmarshal(e.Data, &c); err != nil {
		t.Fatalf("event %s: %v", e.Data, err)
	}
	return c
}

// connectLike opens another connection to url.
func connectLike(ctx context.Context, url string) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }

// crash stops the relay as a killed process would: its connections cut,
// nothing more said to Postgres.
func (r *Relay) crash() {
	r.abrupt.Store(true)
	r.connMu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.connMu.Unlock()
	r.Close()
}
