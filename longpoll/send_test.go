package longpoll

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
)

func (h *harness) send(token string, body any) (int, []byte) {
	h.t.Helper()
	status, data, _ := h.do(context.Background(), http.MethodPost, "/send", token, body)
	return status, data
}

func msg(topic, typ, mid string, data any) map[string]any {
	return map[string]any{"topic": topic, "type": typ, "mid": mid, "data": data}
}

func TestSendPublishesAndAcks(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	o := h.open([]string{"room:a"}, "")
	status, body := h.send(o.Token, msg("room:a", "message", "m_00000001", map[string]string{"text": "hi"}))
	var ack Ack
	mustUnmarshal(t, body, &ack)
	if status != http.StatusOK || ack.MID != "m_00000001" || ack.ID == "" {
		t.Fatalf("send = %d %s, want 200 with the mid and an id", status, body)
	}
	_, p, _ := h.poll(context.Background(), o.Token, o.Cursor, "0")
	if len(p.Events) != 1 || p.Events[0].ID != ack.ID || p.Events[0].From != o.ClientID || p.Events[0].MID != "m_00000001" || string(p.Events[0].Data) != `{"text":"hi"}` {
		t.Fatalf("poll after send = %+v, want the sent event from %s with id %s and its mid", p.Events, o.ClientID, ack.ID)
	}
}

func TestSendIsIdempotentByMID(t *testing.T) {
	var applied atomic.Int64
	h := newHarness(t, Config{DisablePresence: true, OnMessage: func(_ *gin.Context, m Message) (Draft, error) {
		applied.Add(1)
		return m.Draft(), nil
	}})
	o := h.open([]string{"room:a"}, "")
	_, first := h.send(o.Token, msg("room:a", "message", "m_retried1", 1))
	_, again := h.send(o.Token, msg("room:a", "message", "m_retried1", 1))
	if string(first) != string(again) {
		t.Fatalf("retried send acked %s, first %s; want the same ack", again, first)
	}
	// Concurrent retries of one mid, as a client racing its own timeout.
	var wg sync.WaitGroup
	acks := make([]string, 16)
	for i := range acks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, body, _ := h.do(context.Background(), http.MethodPost, "/send", o.Token, msg("room:a", "message", "m_racing01", 2))
			acks[i] = string(body)
		}()
	}
	wg.Wait()
	for _, a := range acks {
		if a != acks[0] || !strings.Contains(a, `"id"`) {
			t.Fatalf("concurrent retries acked differently: %q vs %q", a, acks[0])
		}
	}
	if n := applied.Load(); n != 2 {
		t.Fatalf("OnMessage ran %d times for 2 distinct mids", n)
	}
	_, p, _ := h.poll(context.Background(), o.Token, o.Cursor, "0")
	if len(p.Events) != 2 {
		t.Fatalf("%d events published for 2 distinct mids", len(p.Events))
	}
}

func TestSendRefusalsChangeNothing(t *testing.T) {
	h := newHarness(t, Config{
		DisablePresence: true,
		MaxMessageBytes: 256,
		Authorize: func(_ *gin.Context, _, topic string, a Action) error {
			if topic == "announcements" && a == Publish {
				return errors.New("read-only topic")
			}
			return nil
		},
		OnMessage: func(_ *gin.Context, m Message) (Draft, error) {
			switch m.Type {
			case "drop":
				return Draft{}, ErrDrop
			case "shout":
				return Draft{}, &Rejection{Status: http.StatusUnprocessableEntity, Code: "too_loud", Detail: "no shouting"}
			case "fail":
				return Draft{}, errors.New("database down")
			}
			return m.Draft(), nil
		},
	})
	o := h.open([]string{"room:a", "announcements"}, "")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", []byte(`{"topic":`), 400, "bad_request"},
		{"not an object", []byte(`[1,2]`), 400, "bad_request"},
		{"missing mid", msg("room:a", "message", "", 1), 400, "bad_message"},
		{"short mid", msg("room:a", "message", "m1", 1), 400, "bad_message"},
		{"mid with a space", msg("room:a", "message", "m 0000001", 1), 400, "bad_message"},
		{"missing type", msg("room:a", "", "m_00000002", 1), 400, "bad_message"},
		{"bad topic", msg("room a", "message", "m_00000003", 1), 400, "bad_topic"},
		{"negative ttl", map[string]any{"topic": "room:a", "type": "typing", "mid": "m_00000009", "ttlMs": -1}, 400, "bad_message"},
		{"forbidden topic", msg("announcements", "message", "m_00000004", 1), 403, "forbidden_topic"},
		{"too large", msg("room:a", "message", "m_00000005", strings.Repeat("x", 300)), 413, "too_large"},
		{"application rejection", msg("room:a", "shout", "m_00000006", 1), 422, "too_loud"},
		{"application error", msg("room:a", "fail", "m_00000007", 1), 422, "rejected"},
	}
	for _, tt := range tests {
		status, body := h.send(o.Token, tt.body)
		if status != tt.status || problemCode(t, body) != tt.code {
			t.Errorf("%s: send = %d %s, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
	}
	if status, body := h.send("t_forged", msg("room:a", "message", "m_00000008", 1)); status != 401 {
		t.Errorf("send with a forged token = %d %s, want 401", status, body)
	}
	status, body := h.send(o.Token, msg("room:a", "drop", "m_0000000a", 1))
	if status != 200 || strings.Contains(string(body), `"id"`) {
		t.Errorf("dropped send = %d %s, want 200 with no id", status, body)
	}
	if _, p, _ := h.poll(context.Background(), o.Token, o.Cursor, "0"); len(p.Events) != 0 {
		t.Fatalf("refused sends published %d events", len(p.Events))
	}
	// A refused send is forgotten: its mid can be used again.
	if status, _ := h.send(o.Token, msg("room:a", "message", "m_00000007", 1)); status != 200 {
		t.Fatalf("retry after a refusal = %d, want 200", status)
	}
}

func TestPresenceAndEndSession(t *testing.T) {
	h := newHarness(t, Config{})
	ada := h.open([]string{"room:a"}, "")
	bob := h.open([]string{"room:a", "room:b"}, "")
	status, body, _ := h.do(context.Background(), http.MethodGet, "/presence?topic=room:a", ada.Token, nil)
	if status != 200 || !strings.Contains(string(body), ada.ClientID) || !strings.Contains(string(body), bob.ClientID) {
		t.Fatalf("presence = %d %s, want both clients", status, body)
	}
	if status, body, _ := h.do(context.Background(), http.MethodGet, "/presence?topic=room:b", ada.Token, nil); status != 403 {
		t.Fatalf("presence of an unfollowed topic = %d %s, want 403", status, body)
	}
	if status, _, _ := h.do(context.Background(), http.MethodDelete, "/session", bob.Token, nil); status != http.StatusNoContent {
		t.Fatalf("end session = %d, want 204", status)
	}
	if status, _, _ := h.do(context.Background(), http.MethodDelete, "/session", bob.Token, nil); status != http.StatusNoContent {
		t.Fatalf("ending twice = %d, want 204", status)
	}
	if status, _, _ := h.poll(context.Background(), bob.Token, bob.Cursor, "0"); status != 401 {
		t.Fatalf("poll after end = %d, want 401", status)
	}
	if members, err := h.lp.Presence(context.Background(), "room:a"); err != nil || len(members) != 1 || members[0].ClientID != ada.ClientID {
		t.Fatalf("presence after bob left = %+v, want only ada", members)
	}
	_, p, _ := h.poll(context.Background(), ada.Token, ada.Cursor, "0")
	var got []string
	for _, e := range p.Events {
		got = append(got, fmt.Sprintf("%s:%s", e.From, e.Type))
	}
	if len(got) != 3 {
		t.Fatalf("ada saw %v, want her join, bob's join and bob's leave", got)
	}
}

// A mid is the client's own: another session reusing it publishes its own
// message and learns nothing of the first.
func TestSendDedupIsPerSession(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true})
	a := h.open([]string{"room:a"}, "")
	b := h.open([]string{"room:a"}, "")
	_, ackA := h.send(a.Token, msg("room:a", "message", "m_shared01", "from a"))
	_, ackB := h.send(b.Token, msg("room:a", "message", "m_shared01", "from b"))
	if string(ackA) == string(ackB) {
		t.Fatalf("session b got session a's ack %s", ackB)
	}
	_, p, _ := h.poll(context.Background(), a.Token, a.Cursor, "0")
	if len(p.Events) != 2 {
		t.Fatalf("%d events published for two sessions' sends, want 2", len(p.Events))
	}
}

// With PresenceTopics, only the chosen topics carry joins and leaves: a
// client following notifications gets what is published there and nothing
// of its own, and the endpoint says presence is off for that topic.
func TestPresenceOnlyInTheTopicsTheAppChooses(t *testing.T) {
	h := newHarness(t, Config{PresenceTopics: TopicsWithPrefix("room:")})
	ada := h.open([]string{"notifications"}, "")
	bob := h.open([]string{"room:a", "notifications"}, "")
	h.publish("notifications", "notification", "deployed")

	_, p, _ := h.poll(context.Background(), ada.Token, ada.Cursor, "0")
	if len(p.Events) != 1 || p.Events[0].Type != "notification" {
		t.Fatalf("ada's first poll of notifications = %+v, want the one notification and no presence", p.Events)
	}
	_, p, _ = h.poll(context.Background(), bob.Token, bob.Cursor, "0")
	var got []string
	for _, e := range p.Events {
		got = append(got, e.Topic+":"+e.Type)
	}
	if len(got) != 2 || got[0] != "room:a:presence" || got[1] != "notifications:notification" {
		t.Fatalf("bob saw %v, want his join in room:a, then the notification", got)
	}
	if status, body, _ := h.do(context.Background(), http.MethodGet, "/presence?topic=notifications", bob.Token, nil); status != http.StatusNotFound || problemCode(t, body) != "presence_disabled" {
		t.Fatalf("presence of notifications = %d %s, want 404 presence_disabled", status, body)
	}
	if status, body, _ := h.do(context.Background(), http.MethodGet, "/presence?topic=room:a", bob.Token, nil); status != 200 || !strings.Contains(string(body), bob.ClientID) {
		t.Fatalf("presence of room:a = %d %s, want bob", status, body)
	}

	// Leaving is announced where joining was, and nowhere else.
	if status, _, _ := h.do(context.Background(), http.MethodDelete, "/session", bob.Token, nil); status != http.StatusNoContent {
		t.Fatalf("end session = %d", status)
	}
	if members, err := h.lp.Presence(context.Background(), "room:a"); err != nil || len(members) != 0 {
		t.Fatalf("room:a after bob left = %+v, %v", members, err)
	}
	_, p, _ = h.poll(context.Background(), ada.Token, p.Cursor, "0")
	for _, e := range p.Events {
		if e.Type == TypePresence {
			t.Fatalf("bob's leave reached notifications: %+v", e)
		}
	}
}

func TestTopicsWithPrefix(t *testing.T) {
	has := TopicsWithPrefix("room:", "team/")
	for topic, want := range map[string]bool{"room:a": true, "team/x": true, "notifications": false, "roo": false, "xroom:a": false} {
		if has(topic) != want {
			t.Errorf("TopicsWithPrefix(room:, team/)(%q) = %v", topic, !want)
		}
	}
	if TopicsWithPrefix()("room:a") {
		t.Error("no prefixes: presence nowhere")
	}
}
