package negotiate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/lifeline-go/lifeline/longpoll"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

func newServer(t *testing.T, cfg longpoll.Config) (*longpoll.Server, *httptest.Server) {
	t.Helper()
	lp := longpoll.New(cfg)
	r := gin.New()
	New(Config{LongPoll: lp}).Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		lp.Close()
		srv.Close()
	})
	return lp, srv
}

func post(t *testing.T, srv *httptest.Server, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set(longpoll.TokenHeader, token)
	}
	return do(t, srv, req)
}

func do(t *testing.T, srv *httptest.Server, req *http.Request) (int, []byte) {
	t.Helper()
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data
}

func negotiateOK(t *testing.T, srv *httptest.Server, body string) Response {
	t.Helper()
	status, data := post(t, srv, "/rt/negotiate", "", body)
	if status != http.StatusOK {
		t.Fatalf("negotiate %s = %d %s", body, status, data)
	}
	var res Response
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestNegotiateResponse(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{PollTimeout: 20 * time.Second})
	res := negotiateOK(t, srv, `{"protocol":1,"topics":["room:a","room:a","news"],"meta":{"name":"ada"},"future":"ignored"}`)
	if res.Protocol != 1 || !strings.HasPrefix(res.ClientID, "c_") || len(res.Token) < 40 || res.Cursor == "" || res.Reset {
		t.Fatalf("negotiate = %+v", res)
	}
	want := []TransportInfo{{WebSocket, "/rt/ws"}, {SSE, "/rt/sse?client=" + res.ClientID}, {LongPoll, "/rt/poll"}}
	if len(res.Topics) != 2 || !slices.Equal(res.Transports, want) || res.SendURL != "/rt/send" {
		t.Fatalf("negotiate topics/transports = %v %v %q, want %v", res.Topics, res.Transports, res.SendURL, want)
	}
	if res.PollTimeoutMs != 20000 || res.HeartbeatMs != 15000 || res.SessionTTLMs != 60000 || res.MaxMessageBytes != 65536 {
		t.Fatalf("negotiate timings = %+v", res)
	}
	for _, tr := range res.Transports {
		if strings.Contains(tr.URL, res.Token) {
			t.Fatalf("the token appears in the %s URL", tr.Name)
		}
	}
	// An empty body is valid and means defaults.
	if res := negotiateOK(t, srv, ``); len(res.Topics) != 0 {
		t.Fatalf("empty negotiate followed %v", res.Topics)
	}
}

func TestNegotiateErrors(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{Authorize: func(_ *gin.Context, _, topic string, _ longpoll.Action) error {
		if topic == "admin" {
			return errors.New("admins only")
		}
		return nil
	}})
	tests := []struct {
		body   string
		status int
		code   string
	}{
		{`{"topics":`, 400, "bad_request"},
		{`{"topics":"room:a"}`, 400, "bad_request"},
		{`{"protocol":2}`, 400, "unsupported_protocol"},
		{`{"topics":["no spaces"]}`, 400, "bad_topic"},
		{`{"cursor":"???"}`, 400, "bad_cursor"},
		{`{"topics":["admin"]}`, 403, "forbidden_topic"},
		{`{"meta":"not an object"}`, 400, "bad_request"},
		{"{\"meta\":{\"name\":\"\xff\xfe\"}}", 400, "bad_request"}, // invalid UTF-8
		{`{"meta":{"x":"` + strings.Repeat("y", 17<<10) + `"}}`, 413, "too_large"},
	}
	for _, tt := range tests {
		status, data := post(t, srv, "/rt/negotiate", "", tt.body)
		var p struct{ Code string }
		json.Unmarshal(data, &p)
		if status != tt.status || p.Code != tt.code {
			t.Errorf("negotiate %.40s = %d %s, want %d %s", tt.body, status, data, tt.status, tt.code)
		}
	}
}

// TestEndToEnd runs a whole session through the mounted routes: negotiate,
// a held poll released by another client's send, and resume after the
// session ends.
func TestEndToEnd(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{DisablePresence: true})
	ada := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	bob := negotiateOK(t, srv, `{"topics":["room:a"]}`)

	polled := make(chan []byte, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+urlOf(ada, LongPoll)+"?cursor="+ada.Cursor, nil)
		req.Header.Set(longpoll.TokenHeader, ada.Token)
		res, err := srv.Client().Do(req)
		if err != nil {
			polled <- nil
			return
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		polled <- data
	}()
	status, ack := post(t, srv, bob.SendURL, bob.Token, `{"topic":"room:a","type":"message","data":{"text":"hi ada"},"mid":"m_bob00001"}`)
	if status != http.StatusOK {
		t.Fatalf("send = %d %s", status, ack)
	}
	// The poll may have been answered before or after the send; either way
	// it carries the message (a poll that started after it answers at once).
	data := <-polled
	var batch struct {
		Events []struct{ ID, From string } `json:"events"`
		Cursor string                      `json:"cursor"`
	}
	json.Unmarshal(data, &batch)
	if len(batch.Events) != 1 || batch.Events[0].From != bob.ClientID || !bytes.Contains(ack, []byte(batch.Events[0].ID)) {
		t.Fatalf("ada's poll = %s, want bob's message acked as %s", data, ack)
	}

	// Ada's session ends; she negotiates again from her cursor: no reset.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, srv.URL+"/rt/session", nil)
	req.Header.Set(longpoll.TokenHeader, ada.Token)
	if status, _ := do(t, srv, req); status != http.StatusNoContent {
		t.Fatalf("end session = %d", status)
	}
	again := negotiateOK(t, srv, `{"topics":["room:a"],"cursor":"`+batch.Cursor+`"}`)
	if again.Reset || again.Cursor != batch.Cursor {
		t.Fatalf("resume = %+v, want cursor %s without reset", again, batch.Cursor)
	}
}

func TestNewPanicsWithoutServer(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "LongPoll is required") {
			t.Fatalf("New(Config{}) recovered %v, want the missing-server panic", r)
		}
	}()
	New(Config{})
}

func urlOf(res Response, transport string) string {
	for _, t := range res.Transports {
		if t.Name == transport {
			return t.URL
		}
	}
	return ""
}
