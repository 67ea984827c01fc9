package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestPageIsServed(t *testing.T) {
	h := newHarness(t)
	status, body, hdr := h.do(http.MethodGet, "/", nil, nil)
	if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", status, hdr.Get("Content-Type"))
	}
	for _, want := range []string{`id="transport"`, `/static/app.js`, `data-testid="messages"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if hdr.Get("Content-Security-Policy") == "" {
		t.Error("the page has no Content-Security-Policy")
	}
}

func TestAssetsAreServed(t *testing.T) {
	h := newHarness(t)
	// The page's script imports the client bundle from the mount point.
	for _, path := range []string{rtBase + "/lifeline.js", "/static/app.js", "/static/style.css"} {
		status, body, hdr := h.do(http.MethodGet, path, nil, nil)
		if status != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, status, len(body))
			continue
		}
		if ct := hdr.Get("Content-Type"); strings.HasSuffix(path, ".js") && !strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	if status, _, _ := h.do(http.MethodGet, "/static/", nil, nil); status != http.StatusNotFound {
		t.Errorf("GET /static/: %d, want 404 (no listings)", status)
	}
}

func TestNegotiateTopics(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("ada", "room:general", "notifications")
	if s.ClientID == "" || s.Token == "" || s.Cursor == "" {
		t.Fatalf("negotiate gave %+v", s)
	}
	for _, topic := range []string{"room:Not_Valid", "room:", "room:" + strings.Repeat("a", 33), "secret"} {
		status, body, _ := h.do(http.MethodPost, rtBase+"/negotiate", nil, map[string]any{"topics": []string{topic}})
		if status != http.StatusForbidden || problemCode(t, body) != "forbidden_topic" {
			t.Errorf("negotiate %q: %d %s, want 403 forbidden_topic", topic, status, body)
		}
	}
}

func TestClientsCannotPublishNotifications(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("ada", "room:general", "notifications")
	status, body := s.send("notifications", "message", map[string]string{"text": "hi"}, 0)
	if status != http.StatusForbidden || problemCode(t, body) != "forbidden_topic" {
		t.Fatalf("send to notifications: %d %s, want 403 forbidden_topic", status, body)
	}
}

func TestMessageIsTrimmedAndNamed(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("  ada  ", "room:general")
	if status, body := s.send("room:general", "message", map[string]string{"text": "  hello  "}, 0); status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	e := s.next("message")
	var d chatMessage
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d != (chatMessage{Text: "hello", Name: "ada"}) || e.From != s.ClientID || e.TTLMs != 0 {
		t.Fatalf("event %+v with data %+v", e, d)
	}
}

func TestTypingIsEphemeral(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("ada", "room:general")
	for _, asked := range []int{0, 60_000} {
		if status, body := s.send("room:general", "typing", map[string]string{"ignored": "x"}, asked); status != http.StatusOK {
			t.Fatalf("send typing: %d %s", status, body)
		}
		e := s.next("typing")
		if e.TTLMs != typingTTL.Milliseconds() {
			t.Errorf("typing with ttlMs %d asked: event ttlMs %d, want %d", asked, e.TTLMs, typingTTL.Milliseconds())
		}
		if string(e.Data) != `{"name":"ada"}` {
			t.Errorf("typing data %s", e.Data)
		}
	}
}

func TestBadMessagesAreRejected(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("ada", "room:general")
	tests := []struct {
		name, typ string
		data      any
		code      string
	}{
		{"empty text", "message", map[string]string{"text": ""}, "bad_text"},
		{"blank text", "message", map[string]string{"text": " \n\t "}, "bad_text"},
		{"too long", "message", map[string]string{"text": strings.Repeat("é", maxTextRunes+1)}, "bad_text"},
		{"no text", "message", map[string]string{"body": "hi"}, "bad_text"},
		{"text not a string", "message", map[string]int{"text": 1}, "bad_text"},
		{"data not an object", "message", "hi", "bad_text"},
		{"unknown type", "shout", map[string]string{"text": "hi"}, "bad_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := s.send("room:general", tt.typ, tt.data, 0)
			if status != http.StatusUnprocessableEntity || problemCode(t, body) != tt.code {
				t.Fatalf("%d %s, want 422 %s", status, body, tt.code)
			}
		})
	}
	// The longest text allowed is accepted.
	if status, body := s.send("room:general", "message", map[string]string{"text": strings.Repeat("é", maxTextRunes)}, 0); status != http.StatusOK {
		t.Fatalf("a %d-character text: %d %s", maxTextRunes, status, body)
	}
}

func TestNotifyReachesLongPollClient(t *testing.T) {
	h := newHarness(t)
	s := h.negotiate("ada", "room:general", "notifications")

	got := make(chan event, 1)
	go func() {
		// The poll holds until the notification arrives; the harness's
		// helpers call t.Fatal, which must not run off the test goroutine,
		// so this one reports through the channel.
		defer close(got)
		e, err := pollOnce(h, s)
		if err == nil {
			got <- e
		}
	}()
	status, body, _ := h.do(http.MethodPost, "/api/notify", notifyAuth(nil), map[string]string{"text": "  deploy at 5  "})
	if status != http.StatusOK {
		t.Fatalf("notify: %d %s", status, body)
	}
	e, ok := <-got
	if !ok {
		t.Fatal("the long-poll client got no notification")
	}
	if e.Topic != notificationsTopic || e.Type != "notification" || string(e.Data) != `{"text":"deploy at 5"}` || e.From != "" {
		t.Fatalf("got %+v (data %s)", e, e.Data)
	}
}

func TestNotifyValidates(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"blank", "application/json", `{"text":"  "}`, http.StatusUnprocessableEntity, "bad_text"},
		{"no text", "application/json", `{}`, http.StatusUnprocessableEntity, "bad_text"},
		{"not JSON", "application/json", `text=hi`, http.StatusUnprocessableEntity, "bad_text"},
		{"form post", "application/x-www-form-urlencoded", `text=hi`, http.StatusUnsupportedMediaType, "bad_content_type"},
		{"too large", "application/json", `{"text":"` + strings.Repeat("a", maxNotifyBytes) + `"}`, http.StatusRequestEntityTooLarge, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := h.do(http.MethodPost, "/api/notify", notifyAuth(http.Header{"Content-Type": {tt.contentType}}), tt.body)
			if status != tt.status || problemCode(t, body) != tt.code {
				t.Fatalf("%d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
}
