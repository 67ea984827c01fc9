package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"

	"github.com/lifeline-go/lifeline/llpg"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Postgres mode (-postgres URL): how fast committed rows reach 1 000
// long-polling subscribers through llpg, beside the same number of events
// published with Publish, in one process (server and subscribers share
// the machine's cores, alike in every phase). Four phases:
//
//   - postgres-max: -pg-writers connections insert one row per
//     transaction (synchronous commits, Postgres's default: logical
//     decoding sends only flushed WAL, so an asynchronous commit would
//     wait up to wal_writer_delay, 200 ms, before the relay sees it) as
//     fast as they can for -publish-for; the
//     relay appends each change to the bench topic. Latency runs from the
//     row's commit time (Postgres's clock, this machine's) to its arrival
//     at a subscriber.
//   - postgres-paced: the same at -pg-rate rows per second, a load the
//     machine carries, so that latency is not queueing.
//   - publish-paced: as many events as postgres-paced, published with
//     Publish by -pg-writers goroutines at -pg-rate. Latency runs from
//     just before Publish.
//   - publish-max: as many events as postgres-max, published as fast as
//     they go.
//
// Rates: events/s is events over the time from the first commit (or
// publish) to the last event in the buffer; deliveries/s is events times
// subscribers over the time to the last subscriber's receipt of the last
// event. Latencies are sampled on the first 100 subscribers.

// pgLoad is the Postgres mode's settings.
type pgLoad struct {
	url         string
	subscribers int
	writers     int
	duration    time.Duration
	timeout     time.Duration
	rate        float64 // of the paced phases, events per second
}

// pgPhase is one phase's result.
type pgPhase struct {
	Name        string         `json:"name"`
	Events      int64          `json:"events"`
	EventsPerS  float64        `json:"eventsPerSecond"`
	Deliveries  float64        `json:"deliveriesPerSecond"`
	Latency     latencySummary `json:"latency"`
	Resets      int64          `json:"resets"`
	Subscribers int            `json:"subscribers"`
}

// stampData is every event's data in this mode: when it started, in Unix
// nanoseconds.
type stampData struct {
	T int64 `json:"t"`
}

const pgTopic = "bench"

func runPostgresLoad(cfg pgLoad, stdout, log io.Writer) error {
	ctx := context.Background()
	dbURL, drop, err := pgLoadDB(ctx, cfg.url)
	if err != nil {
		return err
	}
	defer drop()

	mem := longpoll.NewMemory(longpoll.MemoryConfig{MaxEventsPerTopic: 1 << 20, MaxBytes: 1 << 30})
	defer mem.Close()
	lp := longpoll.New(longpoll.Config{
		Buffer: mem, PollTimeout: lifelinePollTimeout, SessionTTL: lifelineSessionTTL, DisablePresence: true,
		IdleLimit: longpoll.Limit{Off: true}, SendLimit: longpoll.Limit{Off: true}, MaxSessionsPerAddr: longpoll.DefaultMaxSessions,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer lp.Close()
	r := gin.New()
	negotiate.New(negotiate.Config{LongPoll: lp, DisableNegotiateLimit: true, DisableHeldLimit: true}).Mount(r.Group("/rt"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	relayCfg := llpg.Config{
		ConnString: dbURL, Target: lp, Slot: "lifeline_load", Publication: "lifeline_load",
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Tables: []llpg.Table{{
			Name: "bench", Ops: llpg.Insert, Topic: func(*llpg.Change) string { return pgTopic }, Type: longpoll.TypeMessage,
			Data: func(c *llpg.Change) any { return stampData{T: c.CommitTime.UnixNano()} },
		}},
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE TABLE bench (id bigserial PRIMARY KEY, pad text NOT NULL)")
	if err == nil {
		err = llpg.Install(ctx, conn, relayCfg)
	}
	conn.Close(ctx)
	if err != nil {
		return err
	}
	relay, err := llpg.New(relayCfg)
	if err != nil {
		return err
	}
	if err := relay.Start(); err != nil {
		return err
	}
	defer relay.Close()
	for deadline := time.Now().Add(cfg.timeout); !relay.Stats().Leading; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("postgres: the relay did not start")
		}
	}

	var phases []pgPhase
	phase := func(name string, produce func(stop <-chan struct{}) (int64, error)) (pgPhase, error) {
		fmt.Fprintf(log, "%s...\n", name)
		ph, err := pgRound(ctx, cfg, base, mem, name, produce)
		if err == nil {
			phases = append(phases, ph)
		}
		return ph, err
	}
	fmt.Fprintf(log, "postgres mode: %d writers, %d subscribers, %v per phase, paced phases at %.0f events/s\n", cfg.writers, cfg.subscribers, cfg.duration, cfg.rate)
	maxed, err := phase("postgres-max", func(stop <-chan struct{}) (int64, error) { return pgWrite(ctx, dbURL, cfg.writers, 0, stop) })
	if err != nil {
		return err
	}
	paced, err := phase("postgres-paced", func(stop <-chan struct{}) (int64, error) { return pgWrite(ctx, dbURL, cfg.writers, cfg.rate, stop) })
	if err != nil {
		return err
	}
	if _, err := phase("publish-paced", func(<-chan struct{}) (int64, error) {
		return pgPublish(ctx, lp, paced.Events, cfg.writers, cfg.rate)
	}); err != nil {
		return err
	}
	if _, err := phase("publish-max", func(<-chan struct{}) (int64, error) {
		return pgPublish(ctx, lp, maxed.Events, cfg.writers, 0)
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-14s %8s %10s %14s %9s %9s %9s %7s\n", "phase", "events", "events/s", "deliveries/s", "p50 ms", "p99 ms", "max ms", "resets")
	for _, p := range phases {
		fmt.Fprintf(stdout, "%-14s %8d %10.0f %14.0f %9.1f %9.1f %9.1f %7d\n", p.Name, p.Events, p.EventsPerS, p.Deliveries, ms(p.Latency.P50), ms(p.Latency.P99), ms(p.Latency.Max), p.Resets)
	}
	return nil
}

// pgLoadDB creates a database of the run's own on the server of url and
// returns its URL and a function that drops it (with the slot in it).
func pgLoadDB(ctx context.Context, serverURL string) (string, func(), error) {
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	name := "lifeline_load_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	cfg := admin.Config()
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password), Host: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), Path: "/" + name, RawQuery: "sslmode=disable"}
	if cfg.Password == "" {
		u.User = url.User(cfg.User)
	}
	return u.String(), func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.Exec(dctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
		admin.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(dctx)
	}, nil
}

// pgRound runs one phase: subscribers poll while produce makes events for
// the configured duration; it waits until every subscriber has them all.
func pgRound(ctx context.Context, cfg pgLoad, base string, mem *longpoll.Memory, name string, produce func(stop <-chan struct{}) (int64, error)) (pgPhase, error) {
	ph := pgPhase{Name: name, Subscribers: cfg.subscribers}
	start, _ := mem.Head(ctx)
	subs, err := pgSubscribe(base, cfg.subscribers)
	if err != nil {
		return ph, err
	}
	var (
		wg       sync.WaitGroup
		stopSubs atomic.Bool
		total    atomic.Int64 // events to expect; 0 until known
		done     atomic.Int64 // subscribers that have them all
		lastAt   atomic.Int64 // unix ns of the last subscriber's last event
		resets   atomic.Int64
		mu       sync.Mutex
		lat      []time.Duration
		subErr   error
	)
	for i, s := range subs {
		wg.Go(func() {
			var got int64
			var mine []time.Duration
			for !stopSubs.Load() {
				evs, reset, err := s.poll()
				now := time.Now()
				if err != nil {
					mu.Lock()
					subErr = err
					mu.Unlock()
					return
				}
				if reset {
					resets.Add(1)
				}
				got += int64(len(evs))
				if i < 100 {
					for _, t := range evs {
						mine = append(mine, now.Sub(time.Unix(0, t)))
					}
				}
				if n := total.Load(); n > 0 && got >= n {
					lastAt.Store(max(lastAt.Load(), now.UnixNano()))
					done.Add(1)
					break
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	began := time.Now()
	stop := make(chan struct{})
	timer := time.AfterFunc(cfg.duration, func() { close(stop) })
	n, err := produce(stop)
	timer.Stop()
	if err != nil {
		stopSubs.Store(true)
		wg.Wait()
		return ph, err
	}
	// Wait until the buffer holds all n, then until every subscriber does.
	deadline := time.Now().Add(cfg.timeout)
	var inBuffer time.Time
	for {
		b, err := mem.Read(ctx, []string{pgTopic}, start, 1<<20)
		if err != nil {
			return ph, err
		}
		if int64(len(b.Events)) >= n {
			inBuffer = time.Now()
			break
		}
		if time.Now().After(deadline) {
			return ph, fmt.Errorf("%s: %d of %d events reached the buffer", name, len(b.Events), n)
		}
		time.Sleep(2 * time.Millisecond) // polling the buffer's fill, not waiting for behaviour
	}
	total.Store(n)
	for done.Load() < int64(len(subs)) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stopSubs.Store(true)
	// Wake held polls so that the subscribers return.
	mem.Append(ctx, longpoll.Draft{Topic: pgTopic, Type: "end", Data: []byte(`{"t":0}`)})
	wg.Wait()
	if subErr != nil {
		return ph, subErr
	}
	if done.Load() < int64(len(subs)) {
		return ph, fmt.Errorf("%s: %d of %d subscribers received all %d events", name, done.Load(), len(subs), n)
	}
	ph.Events, ph.Resets = n, resets.Load()
	ph.EventsPerS = float64(n) / inBuffer.Sub(began).Seconds()
	ph.Deliveries = float64(n) * float64(len(subs)) / time.Unix(0, lastAt.Load()).Sub(began).Seconds()
	ph.Latency = summarize(lat)
	return ph, nil
}

// pgWrite inserts one row per transaction from writers connections until
// stop, at rate rows per second in all (0: as fast as they go), and
// returns how many committed.
func pgWrite(ctx context.Context, dbURL string, writers int, rate float64, stop <-chan struct{}) (int64, error) {
	var n, next atomic.Int64
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(ctx)
			for {
				select {
				case <-stop:
					return
				default:
				}
				pace(began, next.Add(1), rate)
				if _, err := conn.Exec(ctx, "INSERT INTO bench (pad) VALUES ('x')"); err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return n.Load(), <-errs
}

// pace sleeps until the k-th of events spread at rate per second from
// began is due; rate 0 is no pacing.
func pace(began time.Time, k int64, rate float64) {
	if rate > 0 {
		if wait := time.Until(began.Add(time.Duration(float64(k) / rate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
	}
}

// pgPublish publishes n events from workers goroutines, at rate events
// per second in all (0: as fast as they go).
func pgPublish(ctx context.Context, lp *longpoll.Server, n int64, workers int, rate float64) (int64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	began := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > n {
					return
				}
				pace(began, k, rate)
				if _, err := lp.Publish(ctx, pgTopic, longpoll.TypeMessage, stampData{T: time.Now().UnixNano()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return n, <-errs
}

// pgSub is one long-polling subscriber.
type pgSub struct {
	client *http.Client
	base   string
	token  string
	cursor string
}

// pgSubscribe negotiates n long-poll sessions on the bench topic.
func pgSubscribe(base string, n int) ([]*pgSub, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 10, MaxConnsPerHost: n + 10}}
	subs := make([]*pgSub, n)
	for i := range subs {
		res, err := client.Post(base+"/rt/negotiate", "application/json", bytes.NewReader([]byte(`{"topics":["`+pgTopic+`"],"transports":["longpoll"]}`)))
		if err != nil {
			return nil, err
		}
		var o struct{ Token, Cursor string }
		err = json.NewDecoder(res.Body).Decode(&o)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("negotiate: %d %v", res.StatusCode, err)
		}
		subs[i] = &pgSub{client: client, base: base, token: o.Token, cursor: o.Cursor}
	}
	return subs, nil
}

// poll polls once and returns the stamps of the events received.
func (s *pgSub) poll() ([]int64, bool, error) {
	req, _ := http.NewRequest(http.MethodGet, s.base+"/rt/poll?timeout=1000&cursor="+url.QueryEscape(s.cursor), nil)
	req.Header.Set(longpoll.TokenHeader, s.token)
	res, err := s.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer res.Body.Close()
	var b struct {
		Events []struct {
			Type string    `json:"type"`
			Data stampData `json:"data"`
		} `json:"events"`
		Cursor string `json:"cursor"`
		Reset  bool   `json:"reset"`
	}
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil || res.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("poll: %d %v", res.StatusCode, err)
	}
	s.cursor = b.Cursor
	stamps := make([]int64, 0, len(b.Events))
	for _, e := range b.Events {
		if e.Type != "end" {
			stamps = append(stamps, e.Data.T)
		}
	}
	return stamps, b.Reset, nil
}
