package llredis

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
)

// Notices on the channel, one per line of Redis's PUBLISH:
//
//	e <epoch> <member>   an event was appended; member is its stored form
//	r <gen> <clientId>   a receiver of generation gen attached for the client
//	x <clientId>         the client's session ended

// listenIdle is how long the listener waits for a notice before it pings,
// to find out whether a silent connection is still alive.
const listenIdle = 15 * time.Second

// listen keeps one Pub/Sub subscription and turns notices into wake-ups.
// Whenever notices may have been missed — a resubscription, a broken
// connection — every local reader is woken to read again: it then finds
// what it missed, or the error that ends it with a retry hint. ready is
// closed once the first subscription is confirmed or has failed.
func (b *Backend) listen(ready chan<- struct{}) {
	var readyOnce sync.Once
	markReady := func() { readyOnce.Do(func() { close(ready) }) }
	defer markReady()
	ps := b.subscribe()
	subscribed, pinged := false, false
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.ReceiveTimeout(b.ctx, listenIdle)
		if b.ctx.Err() != nil {
			return
		}
		switch m := msg.(type) {
		case *redis.Message:
			b.dispatch(m.Payload)
		case *redis.Subscription:
			if subscribed {
				b.missed() // whatever was announced meanwhile is read anew
			}
			subscribed = true
			markReady()
		}
		if err == nil {
			pinged, backoff = false, 50*time.Millisecond
			continue
		}
		markReady()
		if isTimeout(err) && !pinged {
			pinged = true
			if ps.Ping(b.ctx) == nil {
				continue
			}
		}
		// Broken or silent: wake everyone, then subscribe again.
		b.missed()
		if pinged {
			ps = b.subscribe()
			pinged = false
		}
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// subscribe replaces the Backend's subscription with a new one; Close
// closes whichever is current, which unblocks the listener's read.
func (b *Backend) subscribe() *redis.PubSub {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	if b.ps != nil {
		b.ps.Close()
	}
	b.ps = b.rdb.Subscribe(b.ctx, b.channel)
	if b.ctx.Err() != nil {
		b.ps.Close() // closing: the listener returns at its next read
	}
	return b.ps
}

func (b *Backend) closeSubscription() {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	if b.ps != nil {
		b.ps.Close()
	}
}

// missed handles notices that may have been lost: every local reader
// reads again, and the Server checks its cached sessions with the store.
func (b *Backend) missed() {
	b.mirror.invalidate()
	b.hub.NotifyAll()
	b.notify(longpoll.Notice{Missed: true})
}

func isTimeout(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

func (b *Backend) dispatch(payload string) {
	kind, rest, _ := strings.Cut(payload, " ")
	switch kind {
	case "e":
		epoch, member, _ := strings.Cut(rest, " ")
		e, err := b.cache.event(epoch, member)
		if err != nil {
			b.mirror.invalidate() // a notice it cannot read: ask Redis
			b.hub.NotifyAll()
			return
		}
		b.mirror.apply(epoch, e) // before the wake-up, so that readers find it
		b.hub.Notify(e.Topic)
	case "r":
		genText, client, ok := strings.Cut(rest, " ")
		gen, err := strconv.ParseUint(genText, 10, 64)
		if ok && err == nil {
			b.notify(longpoll.Notice{ClientID: client, Receiver: gen})
		}
	case "x":
		b.notify(longpoll.Notice{ClientID: rest, Ended: true})
	}
}

func (b *Backend) notify(n longpoll.Notice) {
	if fn := b.watch.Load(); fn != nil {
		(*fn)(n)
	}
}
