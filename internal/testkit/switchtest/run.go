// Package switchtest is the delivery guarantee as a property, over real
// HTTP against one or several Lifeline instances: random publishes while
// clients hop between long-poll, SSE and WebSocket, drop connections
// mid-stream, lose their sessions now and then and — with several
// instances — send each request to the next instance in turn. Every client
// must process every event of its topics exactly once, in order.
//
// It imports no Lifeline package, so that any package's tests may use it.
package switchtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Published event, as the instance that published it returned it.
type Published struct {
	ID    string // the event's cursor, "<epoch>.<seq>"
	Topic string
}

// Config describes a run. Zero counts take small defaults.
type Config struct {
	// URLs are the instances' base URLs; Lifeline is mounted at /rt on each.
	URLs []string
	// Publish publishes the n-th event of publisher p to topic, on any
	// instance, and returns it.
	Publish func(ctx context.Context, p, n int, topic string) (Published, error)
	// Clients, Publishers and PerPublisher size the run. Defaults: 12, 2
	// and 300.
	Clients, Publishers, PerPublisher int
	// Deadline bounds how long clients have to catch up. Default: 30 s.
	Deadline time.Duration
}

var topics = []string{"t0", "t1", "t2", "t3"}

var transports = []string{"longpoll", "sse", "websocket"}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Clients, 12)
	def(&c.Publishers, 2)
	def(&c.PerPublisher, 300)
	if c.Deadline <= 0 {
		c.Deadline = 30 * time.Second
	}
}

// seq returns the sequence number of a cursor.
func seq(cursor string) uint64 {
	_, n, _ := strings.Cut(cursor, ".")
	v, _ := strconv.ParseUint(n, 10, 64)
	return v
}

// Run runs the property and reports every client that lost, repeated or
// reordered an event, or was told to reset by a buffer that lost nothing.
func Run(t *testing.T, cfg Config) {
	cfg.defaults()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	in := &instances{urls: cfg.URLs}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}

	cs := make([]*client, cfg.Clients)
	starts := make([]string, cfg.Clients)
	for i := range cs {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		c := &client{in: in, hc: hc, r: r, switches: map[string]int{}}
		for _, j := range r.Perm(len(topics))[:1+r.IntN(3)] {
			c.topics = append(c.topics, topics[j])
		}
		if err := c.negotiate(); err != nil {
			t.Fatal(err)
		}
		cs[i], starts[i] = c, c.cursor
	}

	var mu sync.Mutex
	var published []Published
	var pubs sync.WaitGroup
	for p := range cfg.Publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(seed, 100+uint64(p)))
			for n := range cfg.PerPublisher {
				e, err := cfg.Publish(context.Background(), p, n, topics[r.IntN(len(topics))])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published = append(published, e)
				mu.Unlock()
				time.Sleep(time.Duration(r.IntN(1500)) * time.Microsecond) // spread publishes over the clients' hops
			}
		}()
	}
	publishing := make(chan struct{})
	go func() { pubs.Wait(); close(publishing) }()

	want := func(i int) []string {
		mu.Lock()
		defer mu.Unlock()
		start := seq(starts[i])
		var out []Published
		for _, e := range published {
			if seq(e.ID) > start && slices.Contains(cs[i].topics, e.Topic) {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b Published) int { return int(seq(a.ID)) - int(seq(b.ID)) })
		ids := make([]string, len(out))
		for k, e := range out {
			ids[k] = e.ID
		}
		return ids
	}

	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(cfg.Deadline)
			for time.Now().Before(deadline) {
				select {
				case <-publishing:
					if len(c.received) >= len(want(i)) { // caught up
						return
					}
				default:
				}
				if c.r.IntN(12) == 0 { // the session is lost under the client
					c.endSession()
				}
				err := c.stretch(transports[c.r.IntN(len(transports))], time.Duration(5+c.r.IntN(40))*time.Millisecond)
				if errors.Is(err, errSessionGone) {
					err = c.negotiate()
				}
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
			}
			t.Errorf("client %d: not caught up after %v", i, cfg.Deadline)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := map[string]int{}
	for i, c := range cs {
		for k, v := range c.switches {
			total[k] += v
		}
		if c.resets != 0 {
			t.Errorf("client %d: %d resets, with a buffer that lost nothing", i, c.resets)
		}
		if w := want(i); !slices.Equal(c.received, w) {
			t.Errorf("client %d on %v: processed %d events, want %d exactly once in order\n got %v\nwant %v", i, c.topics, len(c.received), len(w), c.received, w)
		}
	}
	t.Logf("%d events over %d instances, stretches per transport %v", len(published), len(cfg.URLs), total)
}
