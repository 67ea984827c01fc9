package longpoll

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestPropertyEveryEventExactlyOnceInOrder is the delivery guarantee as a
// property: random publishes to random topics, while many clients poll with
// random early disconnects (the response may be lost after the server sent
// it) and random session expiries (the client negotiates again with its
// cursor). Every client must receive every event of its topics exactly
// once, in order. The buffer is large enough that no reset is legitimate.
func TestPropertyEveryEventExactlyOnceInOrder(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const (
		clients    = 24
		publishers = 3
		perPub     = 400
	)
	topics := []string{"t0", "t1", "t2", "t3", "t4"}
	// Rate limits are off: this test is about delivery, and its clients poll
	// far faster than any real one.
	h := newHarness(t, Config{DisablePresence: true, PollTimeout: 100 * time.Millisecond, IdleLimit: Limit{Off: true}})

	type client struct {
		topics   []string
		start    string
		received []string
		resets   int
	}
	cs := make([]*client, clients)
	for i := range cs {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		n := 1 + r.IntN(3)
		perm := r.Perm(len(topics))
		c := &client{}
		for _, j := range perm[:n] {
			c.topics = append(c.topics, topics[j])
		}
		cs[i] = c
	}

	var (
		mu        sync.Mutex
		published []*Event
	)
	publishDone := make(chan struct{})
	startPublishing := make(chan struct{})
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := rand.New(rand.NewPCG(seed, 1000+uint64(p)))
			<-startPublishing
			for i := range perPub {
				e, err := h.lp.Publish(context.Background(), topics[r.IntN(len(topics))], "message", i)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				published = append(published, e)
				mu.Unlock()
				if r.IntN(20) == 0 {
					time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
				}
			}
		}()
	}
	go func() { pubs.Wait(); close(publishDone) }()

	// Open every session before the first publish so that each client's
	// stream covers the whole run.
	sessions := make([]opened, len(cs))
	for i, c := range cs {
		sessions[i] = h.open(c.topics, "")
		c.start = sessions[i].Cursor
	}
	close(startPublishing)
	var wg sync.WaitGroup
	for i, c := range cs {
		o := sessions[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 2000+uint64(i)))
			token, cursor := o.Token, o.Cursor
			for {
				finished := false
				select {
				case <-publishDone:
					finished = true
				default:
				}
				if r.IntN(25) == 0 { // the session expires under the client
					h.do(context.Background(), http.MethodDelete, "/session", token, nil)
				}
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if r.IntN(4) == 0 { // the client gives up early; the answer may be lost
					ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(20))*time.Millisecond)
				}
				status, p, body := h.poll(ctx, token, cursor, strconv.Itoa(20+r.IntN(60)))
				cancel()
				switch status {
				case 0: // lost: poll again from the same cursor
				case http.StatusOK:
					if p.Reset {
						c.resets++
					}
					for _, e := range p.Events {
						c.received = append(c.received, e.ID)
					}
					cursor = p.Cursor
					if finished && len(p.Events) == 0 && !p.More {
						return
					}
				case http.StatusUnauthorized:
					status, data, _ := h.do(context.Background(), http.MethodPost, "/open", "", map[string]any{"topics": c.topics, "cursor": cursor})
					if status != http.StatusOK {
						t.Errorf("client %d: reopen = %d %s", i, status, data)
						return
					}
					var again opened
					mustUnmarshal(t, data, &again)
					if again.Reset {
						c.resets++
					}
					token, cursor = again.Token, again.Cursor
				default:
					t.Errorf("client %d: poll = %d %s", i, status, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	total := 0
	for _, c := range cs {
		total += len(c.received)
	}
	t.Logf("%d events published, %d deliveries checked", len(published), total)
	slices.SortFunc(published, func(a, b *Event) int { return int(a.ID.Seq) - int(b.ID.Seq) })
	for i, c := range cs {
		start, _ := ParseCursor(c.start)
		var want []string
		for _, e := range published {
			if e.ID.Seq > start.Seq && slices.Contains(c.topics, e.Topic) {
				want = append(want, e.ID.String())
			}
		}
		if c.resets != 0 {
			t.Errorf("client %d: %d resets with a buffer that lost nothing", i, c.resets)
		}
		if !slices.Equal(c.received, want) {
			t.Errorf("client %d on %v: received %d events, want %d, exactly once in order\n got %v\nwant %v",
				i, c.topics, len(c.received), len(want), c.received, want)
		}
	}
}
