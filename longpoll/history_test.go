package longpoll

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

type historyResponse struct {
	Topic  string `json:"topic"`
	Events []struct {
		ID    string `json:"id"`
		Topic string `json:"topic"`
	} `json:"events"`
	Cursor   string `json:"cursor"`
	Complete bool   `json:"complete"`
}

// GET /history answers a topic's newest events oldest first, capped at
// MaxHistory, with the cursor to follow from; following from it brings
// exactly what came after.
func TestHistoryEndpoint(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true, MaxHistory: 3, Authorize: func(_ *gin.Context, _, topic string, _ Action) error {
		if topic == "secret" {
			return errors.New("not yours")
		}
		return nil
	}})
	o := h.open([]string{"room:a"}, "")
	var ids []string
	for i := range 5 {
		ids = append(ids, h.publish("room:b", "message", i).ID.String())
	}
	status, body, _ := h.do(context.Background(), http.MethodGet, "/history?topic=room:b&limit=10", o.Token, nil)
	var got historyResponse
	mustUnmarshal(t, body, &got)
	if status != http.StatusOK || got.Topic != "room:b" || len(got.Events) != 3 || got.Events[0].ID != ids[2] || got.Events[2].ID != ids[4] || !got.Complete {
		t.Fatalf("history = %d %s, want the last 3 (limit capped at MaxHistory), oldest first, complete", status, body)
	}
	later := h.publish("room:b", "message", "later")
	if status, _, _ := h.do(context.Background(), http.MethodGet, "/history?topic=room:b", o.Token, nil); status != http.StatusOK {
		t.Fatalf("history without limit = %d", status)
	}
	// Following room:b from the history's cursor brings exactly what came
	// after (a session following room:b, from that cursor).
	b := h.open([]string{"room:b"}, got.Cursor)
	_, p, _ := h.poll(context.Background(), b.Token, got.Cursor, "0")
	if len(p.Events) != 1 || p.Events[0].ID != later.ID.String() {
		t.Fatalf("follow from the history cursor = %+v, want only %s", p.Events, later.ID)
	}
	for _, tt := range []struct {
		query, token string
		status       int
		code         string
	}{
		{"topic=secret", o.Token, 403, "forbidden_topic"},
		{"topic=bad%20topic", o.Token, 400, "bad_topic"},
		{"topic=room:b&limit=0", o.Token, 400, "bad_limit"},
		{"topic=room:b&limit=x", o.Token, 400, "bad_limit"},
		{"topic=room:b", "t_unknown", 401, "unknown_token"},
	} {
		status, body, _ := h.do(context.Background(), http.MethodGet, "/history?"+tt.query, tt.token, nil)
		if status != tt.status || problemCode(t, body) != tt.code {
			t.Errorf("history?%s = %d %s, want %d %s", tt.query, status, body, tt.status, tt.code)
		}
	}
}

// History requests are charged to the session's idle limit.
func TestHistoryIsRateLimited(t *testing.T) {
	h := newHarness(t, Config{DisablePresence: true, IdleLimit: Limit{Limit: 1, Period: time.Hour, Burst: 2}})
	o := h.open([]string{"room:a"}, "")
	for i, want := range []int{200, 200, 429} {
		status, body, res := h.do(context.Background(), http.MethodGet, "/history?topic=room:a", o.Token, nil)
		if status != want {
			t.Fatalf("history request %d = %d %s, want %d", i+1, status, body, want)
		}
		if want == 429 && res.Header.Get("Retry-After") == "" {
			t.Fatal("a refused history request has no Retry-After")
		}
	}
}
