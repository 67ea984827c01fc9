package longpoll

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gin-gonic/gin"
)

// harness serves a Server over real TCP with the routes negotiate would
// mount, plus /open standing in for negotiate (which lives in another
// package and is tested there).
type harness struct {
	t   testing.TB
	lp  *Server
	srv *httptest.Server
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	lp := New(cfg)
	r := gin.New()
	r.POST("/open", func(c *gin.Context) {
		var req struct {
			Topics []string        `json:"topics"`
			Cursor string          `json:"cursor"`
			Meta   json.RawMessage `json:"meta"`
		}
		if err := c.ShouldBindJSON(&req); err != nil {
			c.String(http.StatusBadRequest, err.Error())
			return
		}
		o, err := lp.Open(c, OpenRequest{Topics: req.Topics, Cursor: req.Cursor, Meta: req.Meta})
		if err != nil {
			WriteError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"token": o.Token, "clientId": o.Session.ID, "cursor": o.Cursor.String(), "reset": o.Reset})
	})
	r.GET("/poll", lp.PollHandler())
	r.POST("/send", lp.SendHandler())
	r.GET("/presence", lp.PresenceHandler())
	r.GET("/history", lp.HistoryHandler())
	r.DELETE("/session", lp.EndSessionHandler())
	h := &harness{t: t, lp: lp, srv: httptest.NewServer(r)}
	t.Cleanup(func() {
		lp.Close()
		h.srv.Close()
	})
	return h
}

type opened struct {
	Token    string `json:"token"`
	ClientID string `json:"clientId"`
	Cursor   string `json:"cursor"`
	Reset    bool   `json:"reset"`
}

type pollResponse struct {
	Events     []wireEvent `json:"events"`
	Cursor     string      `json:"cursor"`
	More       bool        `json:"more"`
	Reset      bool        `json:"reset"`
	Superseded bool        `json:"superseded"`
}

type wireEvent struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	TS    int64           `json:"ts"`
	From  string          `json:"from"`
	MID   string          `json:"mid"`
	TTLMs int64           `json:"ttlMs"`
}

type problemBody struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// do sends a request and returns the status, the body and the response.
func (h *harness) do(ctx context.Context, method, path, token string, body any) (int, []byte, *http.Response) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, nil
	}
	return res.StatusCode, data, res
}

func (h *harness) open(topics []string, cursor string) opened {
	h.t.Helper()
	status, body, _ := h.do(context.Background(), http.MethodPost, "/open", "", map[string]any{"topics": topics, "cursor": cursor})
	if status != http.StatusOK {
		h.t.Fatalf("open %v: %d %s", topics, status, body)
	}
	var o opened
	mustUnmarshal(h.t, body, &o)
	return o
}

func (h *harness) poll(ctx context.Context, token, cursor, timeout string) (int, pollResponse, []byte) {
	h.t.Helper()
	q := url.Values{"cursor": {cursor}}
	if timeout != "" {
		q.Set("timeout", timeout)
	}
	status, body, _ := h.do(ctx, http.MethodGet, "/poll?"+q.Encode(), token, nil)
	var p pollResponse
	if status == http.StatusOK {
		mustUnmarshal(h.t, body, &p)
	}
	return status, p, body
}

func (h *harness) publish(topic, typ string, data any) *Event {
	h.t.Helper()
	e, err := h.lp.Publish(context.Background(), topic, typ, data)
	if err != nil {
		h.t.Fatalf("Publish(%q): %v", topic, err)
	}
	return e
}

func mustUnmarshal(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func problemCode(t testing.TB, body []byte) string {
	t.Helper()
	var p problemBody
	mustUnmarshal(t, body, &p)
	return p.Code
}
