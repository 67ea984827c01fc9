package llpg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

func TestInsertUpdateDeleteInCommitOrder(t *testing.T) {
	cfg, conn := setupDB(t, "", Config{})
	buf := memory(t, longpoll.MemoryConfig{})
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	startRelay(t, cfg)

	mustExec(t, conn, "INSERT INTO tasks (title) VALUES ('write tests')")
	mustExec(t, conn, "UPDATE tasks SET done = true, note = 'ok' WHERE id = 1")
	mustExec(t, conn, "BEGIN; INSERT INTO tasks (title) VALUES ('second'); DELETE FROM tasks WHERE id = 1; COMMIT")
	mustExec(t, conn, "UPDATE tasks SET id = 20 WHERE id = 2") // the key changes: Old carries the old key
	before := time.Now()
	events := fence(t, conn, buf, start, "tasks")

	want := []struct {
		op  string
		key string
	}{{"INSERT", "1"}, {"UPDATE", "1"}, {"INSERT", "2"}, {"DELETE", "1"}, {"UPDATE", "20"}}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d", len(events), len(want))
	}
	var lastLSN string
	for i, e := range events {
		c := decode(t, e)
		if e.Type != DefaultEventType || c.Op != want[i].op || fmt.Sprint(c.Key["id"]) != want[i].key || c.Table != "tasks" {
			t.Fatalf("event %d = %s %s, want %s of key %s", i, e.Type, e.Data, want[i].op, want[i].key)
		}
		if c.CommitTime.IsZero() || c.CommitTime.After(before.Add(time.Minute)) {
			t.Errorf("event %d: commit time %v", i, c.CommitTime)
		}
		if c.LSN < lastLSN && len(c.LSN) == len(lastLSN) {
			t.Errorf("event %d: commit LSN %s after %s", i, c.LSN, lastLSN)
		}
		lastLSN = c.LSN
	}
	upd := decode(t, events[1])
	if upd.New["done"] != true || upd.New["note"] != "ok" || upd.New["title"] != "write tests" {
		t.Errorf("update's new row = %v", upd.New)
	}
	if del := decode(t, events[3]); del.New != nil || fmt.Sprint(del.Old) != "map[id:1]" {
		t.Errorf("delete: new %v, old %v; want no new and the old key", del.New, del.Old)
	}
	if moved := decode(t, events[4]); fmt.Sprint(moved.Old) != "map[id:2]" {
		t.Errorf("update of the key: old = %v, want the old key", moved.Old)
	}
	if decode(t, events[2]).LSN != decode(t, events[3]).LSN {
		t.Error("the changes of one transaction carry different commit LSNs")
	}
}

// The outbox trap: each transaction takes its id (a sequence value) early
// and commits late, so ids are not in commit order. Every change must
// still arrive once, in commit order.
func TestConcurrentWritersCommitOutOfOrder(t *testing.T) {
	const writers, txPerWriter, rowsPerTx = 8, 250, 5 // 10 000 changes
	cfg, conn := setupDB(t, "", Config{})
	buf := memory(t, longpoll.MemoryConfig{MaxEventsPerTopic: 20_000, MaxBytes: 256 << 20})
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	r := startRelay(t, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			wc, err := connectLike(ctx, cfg.ConnString)
			if err != nil {
				errs <- err
				return
			}
			defer wc.Close(ctx)
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range txPerWriter {
				tx, err := wc.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				for j := range rowsPerTx {
					if _, err := tx.Exec(ctx, "INSERT INTO cards (board_id, title) VALUES ($1, $2)", w, fmt.Sprintf("w%d-%d-%d", w, i, j)); err != nil {
						errs <- err
						return
					}
					if rng.IntN(8) == 0 {
						time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
					}
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	topics := make([]string, writers)
	for w := range writers {
		topics[w] = fmt.Sprint("board:", w)
	}
	events := fence(t, conn, buf, start, topics...)
	if len(events) != writers*txPerWriter*rowsPerTx {
		t.Fatalf("%d events, want %d (stats %+v)", len(events), writers*txPerWriter*rowsPerTx, r.Stats())
	}
	seen := make(map[string]bool, len(events))
	outOfIDOrder := 0
	var lastLSN, lastID float64
	lsnOf := func(s string) float64 {
		var hi, lo uint64
		fmt.Sscanf(s, "%X/%X", &hi, &lo)
		return float64(hi<<32 | lo)
	}
	for i, e := range events {
		c := decode(t, e)
		id := c.New["id"].(float64)
		key := fmt.Sprint(id)
		if seen[key] {
			t.Fatalf("row %s relayed twice", key)
		}
		seen[key] = true
		if lsn := lsnOf(c.LSN); lsn < lastLSN {
			t.Fatalf("event %d: commit LSN %s before the previous event's", i, c.LSN)
		} else {
			lastLSN = lsn
		}
		if id < lastID {
			outOfIDOrder++
		}
		lastID = id
		if want := fmt.Sprint("board:", c.New["board_id"]); e.Topic != want {
			t.Fatalf("event on %s, want %s", e.Topic, want)
		}
	}
	var rows int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM cards").Scan(&rows); err != nil || rows != len(events) {
		t.Fatalf("table holds %d rows (%v), relayed %d", rows, err, len(events))
	}
	// Ids out of order prove the commits were: a reader that followed the
	// ids (an outbox polled by id) would have skipped rows.
	if outOfIDOrder == 0 {
		t.Error("no transaction committed out of id order; the test did not exercise the trap")
	}
	t.Logf("%d events; %d arrived after a higher id", len(events), outOfIDOrder)
}

func TestFilterRelaysOnlyMatchingRows(t *testing.T) {
	tables := []Table{
		{Name: "cards", Filter: "board_id=eq.5", Ops: Insert | Update, Topic: func(*Change) string { return "five" }},
		{Name: "cards", Filter: "board_id=in.(6,7)", Topic: func(*Change) string { return "six-seven" }},
		{Name: "fence", Topic: func(*Change) string { return "fence" }},
	}
	cfg, conn := setupDB(t, "", Config{Tables: tables})
	buf := memory(t, longpoll.MemoryConfig{})
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	r := startRelay(t, cfg)
	mustExec(t, conn, "INSERT INTO cards (board_id, title) SELECT b, 'c' || b FROM generate_series(4, 8) b")
	mustExec(t, conn, "UPDATE cards SET title = 'x' WHERE board_id IN (5, 6)")
	mustExec(t, conn, "DELETE FROM cards WHERE board_id IN (5, 7)") // five takes no deletes

	var got []string
	for _, e := range fence(t, conn, buf, start, "five", "six-seven") {
		c := decode(t, e)
		got = append(got, fmt.Sprint(e.Topic, " ", c.Op, " ", c.Row()["board_id"]))
	}
	want := []string{"five INSERT 5", "six-seven INSERT 6", "six-seven INSERT 7", "five UPDATE 5", "six-seven UPDATE 6", "six-seven DELETE 7"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("relayed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s := r.Stats(); s.Filtered == 0 {
		t.Errorf("stats %+v: nothing counted as filtered", s)
	}
}

// Row returns Old for a DELETE: used by the filter test's DELETE events.
func (c wireChange) Row() map[string]any {
	if c.Op == "DELETE" {
		return c.Old
	}
	return c.New
}

func TestRowOverTheEventLimitCarriesItsKey(t *testing.T) {
	cfg, conn := setupDB(t, "", Config{})
	buf := memory(t, longpoll.MemoryConfig{MaxEventBytes: 1024})
	cfg.Target = BufferTarget(buf)
	start, _ := buf.Head(context.Background())
	r := startRelay(t, cfg)
	mustExec(t, conn, "INSERT INTO tasks (title, note) VALUES ('big', repeat('x', 5000))")
	mustExec(t, conn, "INSERT INTO tasks (title) VALUES ('small')")
	events := fence(t, conn, buf, start, "tasks")
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	big, small := decode(t, events[0]), decode(t, events[1])
	if !big.TooLarge || big.New != nil || fmt.Sprint(big.Key) != "map[id:1]" || big.Op != "INSERT" {
		t.Errorf("large row's event = %s, want too_large with the key only", events[0].Data)
	}
	if small.TooLarge || small.New["title"] != "small" {
		t.Errorf("small row's event = %s", events[1].Data)
	}
	if s := r.Stats(); s.TooLarge != 1 {
		t.Errorf("stats %+v, want TooLarge 1", s)
	}
}

func TestInstallIsIdempotentAndUninstallRemovesIt(t *testing.T) {
	cfg, conn := setupDB(t, "", Config{Slot: "app_slot", Publication: "app_pub"})
	ctx := context.Background()
	if err := Install(ctx, conn, cfg); err != nil {
		t.Fatalf("second Install: %v", err)
	}
	count := func(sql string) int {
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("SELECT count(*) FROM pg_publication_tables WHERE pubname = 'app_pub'"); n != 3 {
		t.Fatalf("publication has %d tables, want 3", n)
	}
	if n := count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'app_slot'"); n != 1 {
		t.Fatalf("%d slots, want 1", n)
	}
	if err := Uninstall(ctx, conn, cfg); err != nil {
		t.Fatal(err)
	}
	if n := count("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'app_slot'") + count("SELECT count(*) FROM pg_publication WHERE pubname = 'app_pub'"); n != 0 {
		t.Fatalf("after Uninstall %d slot or publication remain", n)
	}
	sql, err := InstallSQL(cfg)
	if err != nil || !strings.Contains(sql, `FOR TABLE "public"."tasks", "public"."cards", "public"."fence"`) || !strings.Contains(sql, "'app_slot'") {
		t.Fatalf("InstallSQL = %q, %v", sql, err)
	}
}

func TestConfigErrors(t *testing.T) {
	ok := Config{ConnString: "postgres://x@127.0.0.1/db", Target: BufferTarget(longpoll.NewMemory(longpoll.MemoryConfig{})), Tables: testTables()}
	defer ok.Target.(bufferTarget).b.Close()
	for name, mut := range map[string]func(*Config){
		"no conn":   func(c *Config) { c.ConnString = "" },
		"no target": func(c *Config) { c.Target = nil },
		"no tables": func(c *Config) { c.Tables = nil },
		"no topic":  func(c *Config) { c.Tables = []Table{{Name: "t"}} },
		"bad filter": func(c *Config) {
			c.Tables = []Table{{Name: "t", Topic: func(*Change) string { return "t" }, Filter: "a=like.b"}}
		},
		"bad slot": func(c *Config) { c.Slot = "Bad-Slot" },
		"bad conn": func(c *Config) { c.ConnString = "postgres://%zz" },
		"nameless": func(c *Config) { c.Tables = []Table{{Topic: func(*Change) string { return "t" }}} },
	} {
		c := ok
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	r, err := New(ok)
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // never started: returns at once
	if err := r.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}
