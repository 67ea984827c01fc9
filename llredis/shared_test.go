package llredis

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// With the Backend alone in the config, negotiate's failure memory and the
// per-session limits are shared: a transport that failed through one
// instance is offered last by another, and a session's send budget is one
// budget whichever instances its sends reach.
func TestBackendSharesLimitsAndFailureMemory(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 3, Config{},
		longpoll.Config{DisablePresence: true, SendLimit: longpoll.Limit{Limit: 1, Period: time.Hour, Burst: 2}},
		negotiate.Config{})
	a, b, c := cluster[0], cluster[1], cluster[2]

	body := map[string]any{"topics": []string{"room:1"}, "failed": []map[string]string{{"transport": "websocket", "reason": "no_upgrade"}}}
	if status, data, _ := call(t, context.Background(), http.MethodPost, a.srv.URL+"/rt/negotiate", "", body); status != http.StatusOK {
		t.Fatalf("negotiate reporting a failure = %d %s", status, data)
	}
	status, data, _ := call(t, context.Background(), http.MethodPost, b.srv.URL+"/rt/negotiate", "", map[string]any{"topics": []string{"room:1"}})
	var res negotiate.Response
	if err := json.Unmarshal(data, &res); err != nil || status != http.StatusOK {
		t.Fatalf("negotiate on B = %d %s", status, data)
	}
	if last := res.Transports[len(res.Transports)-1].Name; last != negotiate.WebSocket {
		t.Fatalf("B offers %v after WebSocket failed through A, want WebSocket last", res.Transports)
	}

	s := session{Token: res.Token}
	for i, in := range []*appInstance{a, b, c} {
		status, data, h := call(t, context.Background(), http.MethodPost, in.srv.URL+"/rt/send", s.Token,
			map[string]any{"topic": "room:1", "type": "message", "data": i, "mid": "m_shared0" + itoa(int64(i))})
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if status != want {
			t.Fatalf("send %d through instance %d = %d %s (RateLimit %q), want %d: the budget is per session, not per instance",
				i+1, i, status, data, h.Get("RateLimit"), want)
		}
	}
}

// The per-session limit on creating topics counts topics Redis does not
// hold, whichever instance the sends reach.
func TestTopicCreationLimitAcrossInstances(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 2, Config{},
		longpoll.Config{DisablePresence: true, TopicLimit: longpoll.Limit{Limit: 1, Period: time.Hour, Burst: 2}},
		negotiate.Config{})
	s := negotiateAt(t, cluster[0], []string{"room:1"}, "")
	send := func(in *appInstance, topic, mid string) int {
		status, _, _ := call(t, context.Background(), http.MethodPost, in.srv.URL+"/rt/send", s.Token,
			map[string]any{"topic": topic, "type": "message", "data": 1, "mid": mid})
		return status
	}
	if send(cluster[0], "new:1", "m_topic001") != http.StatusOK || send(cluster[1], "new:2", "m_topic002") != http.StatusOK {
		t.Fatal("the first two new topics were refused")
	}
	if status := send(cluster[0], "new:1", "m_topic003"); status != http.StatusOK {
		t.Fatalf("a send to a topic that exists = %d, want 200", status)
	}
	if status := send(cluster[1], "new:3", "m_topic004"); status != http.StatusTooManyRequests {
		t.Fatalf("a third new topic through another instance = %d, want 429", status)
	}
}

// A send retried on another instance — after a timeout, say — is applied
// once and answered with the same ack, even when both race.
func TestSendRetriedOnAnotherInstanceAppliedOnce(t *testing.T) {
	cluster := newCluster(t, sharedRedis(t), 3, Config{}, longpoll.Config{DisablePresence: true}, negotiate.Config{})
	s := negotiateAt(t, cluster[0], []string{"room:1"}, "")
	msg := map[string]any{"topic": "room:1", "type": "message", "data": "once", "mid": "m_retried01"}
	acks := make([]string, len(cluster))
	var wg sync.WaitGroup
	for i, in := range cluster {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, data, _ := call(t, context.Background(), http.MethodPost, in.srv.URL+"/rt/send", s.Token, msg)
			if status != http.StatusOK {
				t.Errorf("send through instance %d = %d %s", i, status, data)
			}
			acks[i] = string(data)
		}()
	}
	wg.Wait()
	if acks[0] != acks[1] || acks[1] != acks[2] {
		t.Fatalf("one mid acknowledged differently by the instances: %q", acks)
	}
	_, p, _ := pollAt(t, context.Background(), cluster[2], s, s.Cursor, 0)
	if len(p.Events) != 1 {
		t.Fatalf("%d events published for one mid sent through three instances, want 1", len(p.Events))
	}
}
