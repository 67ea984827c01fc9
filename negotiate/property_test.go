package negotiate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A switchingClient follows its topics by hopping between transports at
// random — long-poll, SSE, WebSocket — for random short stretches, dropping
// each connection mid-stream, and now and then losing its session. It keeps
// only the cursor of the last event it processed, as the TypeScript client
// does, and records every event it processes.
type switchingClient struct {
	srv    *httptest.Server
	hc     *http.Client
	topics []string
	r      *rand.Rand

	token, clientID, cursor string
	received                []string
	resets                  int
	switches                map[string]int
}

// errSessionGone means the server no longer knows the session.
var errSessionGone = errors.New("session gone")

func (c *switchingClient) negotiate() error {
	body, _ := json.Marshal(map[string]any{"topics": c.topics, "cursor": c.cursor})
	res, err := c.hc.Post(c.srv.URL+"/rt/negotiate", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return errors.New("negotiate failed")
	}
	if out.Reset {
		c.resets++
	}
	c.token, c.clientID, c.cursor = out.Token, out.ClientID, out.Cursor
	return nil
}

func (c *switchingClient) process(e testEnvelope) {
	c.received = append(c.received, e.ID)
	c.cursor = e.ID
}

// stretch uses one transport for up to d.
func (c *switchingClient) stretch(transport string, d time.Duration) error {
	c.switches[transport]++
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	switch transport {
	case LongPoll:
		return c.poll(ctx)
	case SSE:
		return c.sse(ctx)
	default:
		return c.ws(ctx, d)
	}
}

func (c *switchingClient) poll(ctx context.Context) error {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+"/rt/poll?timeout=30&cursor="+c.cursor, nil)
		req.Header.Set(longpoll.TokenHeader, c.token)
		res, err := c.hc.Do(req)
		if err != nil {
			return nil // dropped: whatever it carried was not processed
		}
		var batch struct {
			Events []testEnvelope `json:"events"`
			Cursor string         `json:"cursor"`
			Reset  bool           `json:"reset"`
		}
		err = json.NewDecoder(res.Body).Decode(&batch)
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized {
			return errSessionGone
		}
		if err != nil || res.StatusCode != http.StatusOK {
			return nil
		}
		if batch.Reset {
			c.resets++
		}
		for _, e := range batch.Events {
			c.process(e)
		}
		c.cursor = batch.Cursor
	}
	return nil
}

func (c *switchingClient) sse(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.srv.URL+"/rt/sse?cursor="+c.cursor, nil)
	req.Header.Set(longpoll.TokenHeader, c.token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		return errSessionGone
	}
	if res.StatusCode != http.StatusOK {
		return nil
	}
	var bad error
	p := &sseParser{emit: func(m sseMessage) {
		if bad != nil {
			return
		}
		switch m.event {
		case "":
			if m.hasData {
				var e testEnvelope
				if bad = json.Unmarshal([]byte(m.data), &e); bad == nil {
					c.process(e)
				}
			}
		case "reset":
			c.resets++
			c.cursor = m.id
		}
	}}
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		p.write(buf[:n])
		if bad != nil {
			return bad
		}
		if err != nil {
			return nil // dropped or ended: an unfinished message is not processed
		}
	}
}

func (c *switchingClient) ws(ctx context.Context, d time.Duration) error {
	dialer := websocket.Dialer{HandshakeTimeout: time.Second}
	conn, _, err := dialer.DialContext(ctx, "ws"+strings.TrimPrefix(c.srv.URL, "http")+"/rt/ws", nil)
	if err != nil {
		return nil
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": c.token, "cursor": c.cursor}); err != nil {
		return nil
	}
	conn.SetReadDeadline(time.Now().Add(d))
	for {
		var f struct {
			Op     string        `json:"op"`
			Cursor string        `json:"cursor"`
			Event  *testEnvelope `json:"event"`
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == CloseUnknownToken {
				return errSessionGone
			}
			return nil
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return err
		}
		switch f.Op {
		case "event":
			c.process(*f.Event)
		case "reset":
			c.resets++
			c.cursor = f.Cursor
		}
	}
}

// TestPropertyTransportSwitchesLoseAndRepeatNothing is the delivery
// guarantee across transports: random publishes while every client hops
// between long-poll, SSE and WebSocket, drops connections mid-stream and
// loses its session now and then. Every client must process every event of
// its topics exactly once, in order.
func TestPropertyTransportSwitchesLoseAndRepeatNothing(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const (
		clients    = 12
		publishers = 2
		perPub     = 300
	)
	topics := []string{"t0", "t1", "t2", "t3"}
	// Rate limits are off: this test is about delivery, and its clients
	// reconnect far more often than any real one.
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true, IdleLimit: longpoll.Limit{Off: true}},
		Config{Heartbeat: 20 * time.Millisecond, StreamMaxAge: 40 * time.Millisecond, DisableNegotiateLimit: true})
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport}

	cs := make([]*switchingClient, clients)
	for i := range cs {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		perm := r.Perm(len(topics))
		c := &switchingClient{srv: srv, hc: hc, r: r, switches: map[string]int{}}
		for _, j := range perm[:1+r.IntN(3)] {
			c.topics = append(c.topics, topics[j])
		}
		if err := c.negotiate(); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	starts := make([]string, clients)
	for i, c := range cs {
		starts[i] = c.cursor
	}

	var mu sync.Mutex
	var published []*longpoll.Event
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(seed, 100+uint64(p)))
			for i := range perPub {
				e, err := lp.Publish(context.Background(), topics[r.IntN(len(topics))], "message", map[string]any{"n": i, "text": "line one\nline two é ✓"})
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
		start, _ := longpoll.ParseCursor(starts[i])
		var out []string
		for _, e := range published {
			if e.ID.Seq > start.Seq && slices.Contains(cs[i].topics, e.Topic) {
				out = append(out, e.ID.String())
			}
		}
		return out
	}

	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			transports := []string{LongPoll, SSE, WebSocket}
			for time.Now().Before(deadline) {
				select {
				case <-publishing:
					// Done once everything of this client's topics arrived.
					if len(c.received) >= len(want(i)) {
						return
					}
				default:
				}
				if c.r.IntN(12) == 0 { // the session is lost under the client
					req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/rt/session", nil)
					req.Header.Set(longpoll.TokenHeader, c.token)
					if res, err := hc.Do(req); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
				}
				err := c.stretch(transports[c.r.IntN(3)], time.Duration(5+c.r.IntN(40))*time.Millisecond)
				if errors.Is(err, errSessionGone) {
					err = c.negotiate()
				}
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
			}
			t.Errorf("client %d: not caught up after 30 s", i)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.SortFunc(published, func(a, b *longpoll.Event) int { return int(a.ID.Seq) - int(b.ID.Seq) })
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
	t.Logf("%d events, stretches per transport %v", len(published), total)
}
