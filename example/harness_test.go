package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// testPollTimeout keeps held polls short so a failing test ends quickly.
const testPollTimeout = 2 * time.Second

// testNotifyToken is the token the test app's POST /api/notify requires.
const testNotifyToken = "test-notify-token"

// notifyAuth is the header that proves the notify token, plus extra.
func notifyAuth(extra http.Header) http.Header {
	h := http.Header{"Authorization": {"Bearer " + testNotifyToken}}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// harness is the chat app over a real TCP server.
type harness struct {
	t      *testing.T
	url    string
	lp     *longpoll.Server
	client *http.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	engine, lp := newApp(options{PollTimeout: testPollTimeout, NotifyToken: testNotifyToken})
	ts := httptest.NewServer(engine)
	h := &harness{t: t, url: ts.URL, lp: lp, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(func() {
		lp.Close() // release held polls before the server waits for them
		ts.Close()
		h.client.CloseIdleConnections()
	})
	return h
}

// do sends a request and returns the status and body.
func (h *harness) do(method, path string, header http.Header, body any) (int, []byte, http.Header) {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if rd != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return res.StatusCode, out, res.Header
}

// session is a negotiated client.
type session struct {
	ClientID string `json:"clientId"`
	Token    string `json:"token"`
	Cursor   string `json:"cursor"`
	SendURL  string `json:"sendUrl"`
	h        *harness
}

func (h *harness) negotiate(name string, topics ...string) *session {
	h.t.Helper()
	status, body, _ := h.do(http.MethodPost, rtBase+"/negotiate", nil, map[string]any{
		"protocol": 1, "topics": topics, "transports": []string{"longpoll"}, "meta": map[string]string{"name": name},
	})
	if status != http.StatusOK {
		h.t.Fatalf("negotiate %v: %d %s", topics, status, body)
	}
	s := &session{h: h}
	if err := json.Unmarshal(body, s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (s *session) header() http.Header {
	return http.Header{longpoll.TokenHeader: {s.Token}}
}

var midSeq int

// send posts a message and returns the status and body.
func (s *session) send(topic, typ string, data any, ttlMs int) (int, []byte) {
	s.h.t.Helper()
	midSeq++
	status, body, _ := s.h.do(http.MethodPost, s.SendURL, s.header(), map[string]any{
		"topic": topic, "type": typ, "data": data, "mid": fmt.Sprintf("m_test_%08d", midSeq), "ttlMs": ttlMs,
	})
	return status, body
}

// event is a wire envelope as a client sees it.
type event struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Type  string          `json:"type"`
	Data  json.RawMessage `json:"data"`
	From  string          `json:"from"`
	TTLMs int64           `json:"ttlMs"`
}

// next polls until an event of type typ arrives and returns it, advancing
// the session's cursor. It fails the test after a few polls without one.
func (s *session) next(typ string) event {
	s.h.t.Helper()
	for range 3 {
		q := url.Values{"cursor": {s.Cursor}, "timeout": {"1500"}}
		status, body, _ := s.h.do(http.MethodGet, rtBase+"/poll?"+q.Encode(), s.header(), nil)
		if status != http.StatusOK {
			s.h.t.Fatalf("poll: %d %s", status, body)
		}
		var b struct {
			Events []event `json:"events"`
			Cursor string  `json:"cursor"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			s.h.t.Fatal(err)
		}
		for _, e := range b.Events {
			s.Cursor = e.ID
			if e.Type == typ {
				return e
			}
		}
		s.Cursor = b.Cursor
	}
	s.h.t.Fatalf("no %q event arrived", typ)
	return event{}
}

// problemCode returns the code of a problem document.
func problemCode(t *testing.T, body []byte) string {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("not a problem document: %s", body)
	}
	return p.Code
}
