package llredis

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// session is what negotiate answered.
type session struct {
	ClientID string `json:"clientId"`
	Token    string `json:"token"`
	Cursor   string `json:"cursor"`
	Reset    bool   `json:"reset"`
}

// call makes one request and returns its status, body and headers.
func call(t testing.TB, ctx context.Context, method, url, token string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(longpoll.TokenHeader, token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data, res.Header
}

func negotiateAt(t testing.TB, in *appInstance, topics []string, cursor string) session {
	t.Helper()
	status, data, _ := call(t, context.Background(), http.MethodPost, in.srv.URL+"/rt/negotiate", "", map[string]any{"topics": topics, "cursor": cursor})
	if status != http.StatusOK {
		t.Fatalf("negotiate = %d %s", status, data)
	}
	var s session
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// pollResult is a long-poll's answer.
type pollResult struct {
	Events []struct {
		ID    string          `json:"id"`
		Topic string          `json:"topic"`
		Type  string          `json:"type"`
		Data  json.RawMessage `json:"data"`
	} `json:"events"`
	Cursor     string `json:"cursor"`
	Reset      bool   `json:"reset"`
	Superseded bool   `json:"superseded"`
	Code       string `json:"code"`
}

func pollAt(t testing.TB, ctx context.Context, in *appInstance, s session, cursor string, timeout time.Duration) (int, pollResult, http.Header) {
	t.Helper()
	url := in.srv.URL + "/rt/poll?cursor=" + cursor + "&timeout=" + itoa(timeout.Milliseconds())
	status, data, h := call(t, ctx, http.MethodGet, url, s.Token, nil)
	var p pollResult
	_ = json.Unmarshal(data, &p)
	return status, p, h
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
