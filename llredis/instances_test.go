package llredis

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
	"github.com/lifeline-go/lifeline/negotiate"
)

// A poll held on one instance is woken by a publish on another within
// milliseconds, not at the end of its hold.
func TestPublishWakesPollOnAnotherInstance(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 2, Config{}, longpoll.Config{DisablePresence: true}, negotiate.Config{})
	a, b := cluster[0], cluster[1]
	s := negotiateAt(t, b, []string{"room:1"}, "")
	type answer struct {
		p    pollResult
		took time.Duration
	}
	done := make(chan answer, 1)
	go func() {
		start := time.Now()
		_, p, _ := pollAt(t, context.Background(), b, s, s.Cursor, 20*time.Second)
		done <- answer{p, time.Since(start)}
	}()
	waitFor(t, "the poll to be held", func() bool { return b.lp.Stats().HeldPolls == 1 })
	published := time.Now()
	if _, err := a.lp.Publish(context.Background(), "room:1", "message", "hi"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	woke := time.Since(published)
	if len(got.p.Events) != 1 {
		t.Fatalf("poll answered %+v, want the event", got.p)
	}
	if woke > 2*time.Second {
		t.Fatalf("the poll on B answered %v after the publish on A, want milliseconds", woke)
	}
	t.Logf("publish on A to answer on B: %v", woke)
}

// No wake-up is lost between a reader's read and its wait: readers on B
// subscribe, read and wait while publishes on A race them. A reader whose
// read missed the event must be signalled.
func TestNoWakeUpLostBetweenReadAndWait(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 2, Config{}, longpoll.Config{DisablePresence: true}, negotiate.Config{})
	bufA, bufB := cluster[0].backend.Buffer(), cluster[1].backend.Buffer()
	ctx := context.Background()
	for i := range 200 {
		topic := "race:" + itoa(int64(i%7))
		from, err := bufB.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := bufB.Subscribe([]string{topic})
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := bufA.Append(ctx, longpoll.Draft{Topic: topic, Type: "x"}); err != nil {
				t.Error(err)
			}
		}()
		close(start)
		batch, err := bufB.Read(ctx, []string{topic}, from, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch.Events) == 0 {
			select {
			case <-sub.C():
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: the read missed the append and no wake-up came", i)
			}
		}
		wg.Wait()
		sub.Close()
	}
}

// A session negotiated on one instance is served by every instance; one
// receiver per session holds across instances; ending it anywhere ends it
// everywhere; presence is the same on every instance.
func TestSessionAcrossInstances(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 3, Config{}, longpoll.Config{}, negotiate.Config{})
	a, b, c := cluster[0], cluster[1], cluster[2]
	ada := negotiateAt(t, a, []string{"room:1"}, "")
	bob := negotiateAt(t, b, []string{"room:1"}, "")

	// Ada reads her own join and bob's through C.
	status, p, _ := pollAt(t, context.Background(), c, ada, ada.Cursor, 0)
	if status != http.StatusOK || len(p.Events) != 2 || p.Events[1].Type != longpoll.TypePresence {
		t.Fatalf("ada's poll on C = %d %+v, want both joins", status, p)
	}
	// A poll of ada's held on A ends, superseded, when she polls on B.
	held := make(chan pollResult, 1)
	go func() {
		_, old, _ := pollAt(t, context.Background(), a, ada, p.Cursor, 20*time.Second)
		held <- old
	}()
	waitFor(t, "ada's poll on A to be held", func() bool { return a.lp.Stats().HeldPolls == 1 })
	newer := make(chan int, 1)
	go func() {
		status, _, _ := pollAt(t, context.Background(), b, ada, p.Cursor, 20*time.Second)
		newer <- status
	}()
	select {
	case old := <-held:
		if !old.Superseded {
			t.Fatalf("ada's poll on A answered %+v, want superseded", old)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ada's older poll on A was not released by her newer one on B")
	}
	if _, err := a.lp.Publish(context.Background(), "room:1", "message", "wake"); err != nil {
		t.Fatal(err)
	}
	if status := <-newer; status != http.StatusOK {
		t.Fatalf("ada's newer poll on B = %d", status)
	}

	// Presence is the same on every instance.
	for _, in := range cluster {
		status, data, _ := call(t, context.Background(), http.MethodGet, in.srv.URL+"/rt/presence?topic=room:1", bob.Token, nil)
		var got struct {
			Clients []longpoll.Member `json:"clients"`
		}
		_ = json.Unmarshal(data, &got)
		ids := []string{}
		for _, m := range got.Clients {
			ids = append(ids, m.ClientID)
		}
		slices.Sort(ids)
		want := []string{ada.ClientID, bob.ClientID}
		slices.Sort(want)
		if status != http.StatusOK || !slices.Equal(ids, want) {
			t.Fatalf("presence on %s = %d %v, want %v", in.srv.URL, status, ids, want)
		}
	}

	// Ending ada's session on C ends it on A and B.
	if status, _, _ := call(t, context.Background(), http.MethodDelete, c.srv.URL+"/rt/session", ada.Token, nil); status != http.StatusNoContent {
		t.Fatalf("end session = %d", status)
	}
	for _, in := range []*appInstance{a, b} {
		// The end reaches the other instances within milliseconds.
		waitFor(t, "the end to reach "+in.srv.URL, func() bool {
			status, _, _ := pollAt(t, context.Background(), in, ada, p.Cursor, 0)
			return status == http.StatusUnauthorized
		})
	}
	// Her leave was published once.
	_, got, _ := pollAt(t, context.Background(), c, bob, bob.Cursor, 0)
	leaves := 0
	for _, e := range got.Events {
		if e.Type == longpoll.TypePresence && json.Valid(e.Data) && string(e.Data) != "" && containsAction(e.Data, "leave") {
			leaves++
		}
	}
	if leaves != 1 {
		t.Fatalf("%d leave events for one ended session, want 1: %+v", leaves, got.Events)
	}
}

func containsAction(data json.RawMessage, action string) bool {
	var p struct {
		Action string `json:"action"`
	}
	return json.Unmarshal(data, &p) == nil && p.Action == action
}

// A member whose session expires leaves once, even when the instance that
// served it died: another instance claims the expiry.
func TestExpiryLeavesOnceWhenItsInstanceDied(t *testing.T) {
	rdb := sharedRedis(t)
	prefix := testPrefix(t, rdb)
	clock := buffertest.NewClock() // shared by the instances
	cfg := Config{Prefix: prefix, Now: clock.Now}
	lcfg := longpoll.Config{SessionTTL: time.Minute, Now: clock.Now}
	survivors := newCluster(t, rdb, 2, cfg, lcfg, negotiate.Config{})
	doomed := newCluster(t, rdb, 1, cfg, lcfg, negotiate.Config{})[0]
	watcher := negotiateAt(t, survivors[0], []string{"room:1"}, "")
	gone := negotiateAt(t, doomed, []string{"room:1"}, "")
	// The instance dies: it stops serving without ending its sessions.
	doomed.srv.Close()
	doomed.lp.Close()
	doomed.backend.Close()

	// The watcher keeps polling; gone does not, and expires.
	clock.Advance(40 * time.Second)
	if status, _, _ := pollAt(t, context.Background(), survivors[0], watcher, watcher.Cursor, 0); status != http.StatusOK {
		t.Fatalf("watcher's poll = %d", status)
	}
	clock.Advance(40 * time.Second)
	var wg sync.WaitGroup
	for _, in := range survivors {
		wg.Add(1)
		go func() { defer wg.Done(); in.lp.Sweep() }() // both race to claim the expiry
	}
	wg.Wait()
	_, p, _ := pollAt(t, context.Background(), survivors[1], watcher, watcher.Cursor, 0)
	leaves := 0
	for _, e := range p.Events {
		if e.Type == longpoll.TypePresence && containsAction(e.Data, "leave") {
			leaves++
		}
	}
	if leaves != 1 {
		t.Fatalf("%d leaves for the expired session of a dead instance, want 1 (events %+v)", leaves, p.Events)
	}
	members, err := survivors[0].lp.Presence(context.Background(), "room:1")
	if err != nil || slices.ContainsFunc(members, func(m longpoll.Member) bool { return m.ClientID == gone.ClientID }) {
		t.Fatalf("presence after expiry = %v, %v; want without %s", members, err, gone.ClientID)
	}
}
