package negotiate

import (
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/longpoll"
)

// handTicks replaces a pacer's timer: each tick a stream arms waits in
// armed until the test fires it.
type handTicks struct {
	armed chan func()
}

func newHandTicks() *handTicks { return &handTicks{armed: make(chan func(), 16)} }

func (h *handTicks) schedule(_ time.Duration, f func()) { h.armed <- f }

// mustArm waits until a stream waits for a tick, and returns the tick.
func (h *handTicks) mustArm(t *testing.T) func() {
	t.Helper()
	select {
	case f := <-h.armed:
		return f
	case <-time.After(waitTimeout):
		t.Fatal("no stream waited for the pacer's tick")
		return nil
	}
}

// pacedServer is wsServer with CoalesceWindow set to window and the
// pacer's ticks fired by hand (nil ticks when window is negative).
func pacedServer(t *testing.T, window time.Duration) (*longpoll.Server, Response, *httptest.Server, *handTicks) {
	t.Helper()
	lp := longpoll.New(longpoll.Config{DisablePresence: true})
	h := New(Config{LongPoll: lp, CoalesceWindow: window})
	var ticks *handTicks
	if h.pace != nil {
		ticks = newHandTicks()
		h.pace.schedule = ticks.schedule
	}
	r := gin.New()
	h.Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		lp.Close()
		srv.Close()
	})
	return lp, negotiateOK(t, srv, `{"topics":["room:a"]}`), srv, ticks
}

// mustBeQuiet fails if c receives a frame within a short while.
func mustBeQuiet(t *testing.T, c *wsTestClient, why string) {
	t.Helper()
	if f, err := c.next(100 * time.Millisecond); !errors.Is(err, errNoMessage) {
		t.Fatalf("%s, got %s (%v)", why, f.Raw, err)
	}
}

func TestPacerHolds(t *testing.T) {
	p := newPacer(20 * time.Millisecond)
	const at = time.Second
	for _, c := range []struct {
		name           string
		lastWrite, now time.Duration
		want           bool
	}{
		{"never wrote", 0, at, false},
		{"wrote just now", at, at, true},
		{"wrote within the window", at, at + 19*time.Millisecond, true},
		{"wrote a window ago", at, at + 20*time.Millisecond, false},
		{"wrote long ago", at, at + time.Minute, false},
	} {
		if got := p.holds(c.lastWrite, c.now); got != c.want {
			t.Errorf("%s: holds = %v, want %v", c.name, got, c.want)
		}
	}
	if off := newPacer(-1); off != nil || off.holds(at, at) {
		t.Error("a negative window must pace nothing")
	}
}

// Every stream that waits before a tick waits for the same one, which
// one timer fires; the next stream to wait arms the next tick.
func TestPacerSharesOneTick(t *testing.T) {
	p := newPacer(time.Hour)
	ticks := newHandTicks()
	p.schedule = ticks.schedule
	first, second := p.tick(), p.tick()
	if first != second {
		t.Fatal("two streams waiting before one tick got different channels")
	}
	fire := ticks.mustArm(t)
	if len(ticks.armed) != 0 {
		t.Fatal("one tick armed two timers")
	}
	fire()
	select {
	case <-first:
	default:
		t.Fatal("the tick did not let its streams go")
	}
	next := p.tick()
	if next == first {
		t.Fatal("a stream waiting after the tick got the tick that fired")
	}
	ticks.mustArm(t)()
	<-next
}

// A stream that wrote less than a window ago holds the events that follow
// until the tick and writes them together: one "events" frame for a client
// that asked for batches. The first event after a quiet spell is written at
// once.
func TestBurstWaitsForTheTickAndGoesOutTogether(t *testing.T) {
	lp, neg, srv, ticks := pacedServer(t, time.Hour)
	c := dialBatchWS(t, srv, neg)

	first := publish(t, lp, "room:a", 0)
	mustEventFrame(t, c, first) // the stream had written no event yet

	var ids []string
	ids = append(ids, publish(t, lp, "room:a", 1).ID.String())
	fire := ticks.mustArm(t) // the stream wrote less than a window ago: it waits
	for i := 2; i <= 4; i++ {
		ids = append(ids, publish(t, lp, "room:a", i).ID.String())
	}
	mustBeQuiet(t, c, "a paced stream wrote before its tick")
	fire()
	f := c.mustOp(t, "events")
	var got []string
	for _, e := range f.Events {
		got = append(got, e.ID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("the tick's frame carries %v, want %v", got, ids)
	}
}

// SSE streams are paced the same way; the probe, like a heartbeat, is
// not a write that holds the next event.
func TestSSEBurstWaitsForTheTick(t *testing.T) {
	lp, neg, srv, ticks := pacedServer(t, time.Hour)
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	select {
	case <-c.probes:
	case <-time.After(waitTimeout):
		t.Fatal("no probe event")
	}

	mustEvent(t, c, publish(t, lp, "room:a", 0)) // written at once, after the probe
	held := []*longpoll.Event{publish(t, lp, "room:a", 1)}
	fire := ticks.mustArm(t)
	held = append(held, publish(t, lp, "room:a", 2))
	if m, err := c.next(100 * time.Millisecond); !errors.Is(err, errNoMessage) {
		t.Fatalf("a paced SSE stream wrote before its tick: %+v (%v)", m, err)
	}
	fire()
	for _, e := range held {
		mustEvent(t, c, e)
	}
}

// A zero CoalesceWindow is the default.
func TestCoalesceWindowDefault(t *testing.T) {
	lp := longpoll.New(longpoll.Config{DisablePresence: true})
	defer lp.Close()
	if h := New(Config{LongPoll: lp}); h.pace == nil || h.pace.window != DefaultCoalesceWindow {
		t.Fatalf("the pacer of a zero CoalesceWindow = %+v, want one of %v", h.pace, DefaultCoalesceWindow)
	}
}

// With coalescing off, every event is written as soon as the stream wakes.
func TestCoalescingOff(t *testing.T) {
	lp, neg, srv, ticks := pacedServer(t, -1)
	if ticks != nil {
		t.Fatal("a negative CoalesceWindow made a pacer")
	}
	c := dialBatchWS(t, srv, neg)
	for i := range 3 {
		mustEventFrame(t, c, publish(t, lp, "room:a", i))
	}
}

// A stream waiting for its tick still ends at once when the Server
// closes: the tick is not among the things it must wait for.
func TestPacedStreamEndsOnClose(t *testing.T) {
	lp, neg, srv, ticks := pacedServer(t, time.Hour)
	c := dialBatchWS(t, srv, neg)
	mustEventFrame(t, c, publish(t, lp, "room:a", 0))
	publish(t, lp, "room:a", 1)
	ticks.mustArm(t) // never fired
	lp.Close()
	c.mustClose(t, websocket.CloseGoingAway)
}

// The tick's delivery reads every event that came while the stream was
// held: the signal those appends left is spent, and holds the stream for
// no second tick. The next event, within the window, is held again.
func TestTickLeavesNoSpentSignal(t *testing.T) {
	lp, neg, srv, ticks := pacedServer(t, time.Hour)
	c := dialBatchWS(t, srv, neg)
	mustEventFrame(t, c, publish(t, lp, "room:a", 0))
	held := []string{publish(t, lp, "room:a", 1).ID.String()}
	fire := ticks.mustArm(t)
	held = append(held, publish(t, lp, "room:a", 2).ID.String())
	fire()
	if f := c.mustOp(t, "events"); len(f.Events) != len(held) {
		t.Fatalf("the tick's frame = %s, want %d events", f.Raw, len(held))
	}
	select {
	case <-ticks.armed:
		t.Fatal("the stream waited for another tick with nothing new to write")
	case <-time.After(100 * time.Millisecond):
	}
	e := publish(t, lp, "room:a", 3)
	fire = ticks.mustArm(t)
	mustBeQuiet(t, c, "a paced stream wrote before its tick")
	fire()
	mustEventFrame(t, c, e)
}

// A held stream still ends at once when a newer receiver supersedes it,
// and an SSE stream when the Server closes.
func TestPacedStreamsEnd(t *testing.T) {
	t.Run("superseded", func(t *testing.T) {
		lp, neg, srv, ticks := pacedServer(t, time.Hour)
		c := dialBatchWS(t, srv, neg)
		mustEventFrame(t, c, publish(t, lp, "room:a", 0))
		publish(t, lp, "room:a", 1)
		ticks.mustArm(t) // never fired
		newer := dialBatchWS(t, srv, neg)
		c.mustClose(t, CloseSuperseded)
		newer.close()
	})
	t.Run("SSE on Close", func(t *testing.T) {
		lp, neg, srv, ticks := pacedServer(t, time.Hour)
		c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
		mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
		mustEvent(t, c, publish(t, lp, "room:a", 0))
		publish(t, lp, "room:a", 1)
		ticks.mustArm(t) // never fired
		lp.Close()
		if p := c.mustNext(t).problem(t); p.Code != "shutting_down" {
			t.Fatalf("a held SSE stream ended with %+v, want shutting_down", p)
		}
		c.mustEnd(t)
	})
}
