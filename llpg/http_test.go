package llpg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// A client follows relayed topics over real HTTP: the app's Authorize
// hook refuses a board it may not see, and the board it may see delivers
// its rows and nothing of the other.
func TestClientsGetOnlyAuthorizedTopics(t *testing.T) {
	gin.SetMode(gin.TestMode)
	cfg, conn := setupDB(t, "", Config{})
	lp := longpoll.New(longpoll.Config{DisablePresence: true, Logger: quiet, Authorize: func(_ *gin.Context, _, topic string, _ longpoll.Action) error {
		if topic == "board:2" {
			return errors.New("not a member of board 2")
		}
		return nil
	}})
	defer lp.Close()
	cfg.Target = lp
	r := gin.New()
	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	defer srv.Close()
	startRelay(t, cfg)

	post := func(topics ...string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"protocol": 1, "topics": topics, "transports": []string{"longpoll"}})
		res, err := http.Post(srv.URL+"/rt/negotiate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	if status, out := post("board:2"); status != http.StatusForbidden || out["code"] != "forbidden_topic" {
		t.Fatalf("negotiate board:2 = %d %v, want 403 forbidden_topic", status, out)
	}
	status, out := post("board:1")
	if status != http.StatusOK {
		t.Fatalf("negotiate board:1 = %d %v", status, out)
	}
	token, cursor := out["token"].(string), out["cursor"].(string)

	mustExec(t, conn, "INSERT INTO cards (board_id, title) VALUES (2, 'secret'), (1, 'visible')")
	mustExec(t, conn, "UPDATE cards SET title = 'moved' WHERE board_id = 1")

	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/rt/poll?timeout=5000&cursor="+url.QueryEscape(cursor), nil)
		req.Header.Set(longpoll.TokenHeader, token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var poll struct {
			Events []struct {
				Topic string          `json:"topic"`
				Type  string          `json:"type"`
				Data  json.RawMessage `json:"data"`
			} `json:"events"`
			Cursor string `json:"cursor"`
		}
		if err := json.Unmarshal(body, &poll); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("poll = %d %s", res.StatusCode, body)
		}
		for _, e := range poll.Events {
			var c wireChange
			json.Unmarshal(e.Data, &c)
			got = append(got, fmt.Sprint(e.Topic, " ", e.Type, " ", c.Op, " ", c.New["title"]))
		}
		cursor = poll.Cursor
	}
	want := "[board:1 change INSERT visible board:1 change UPDATE moved]"
	if fmt.Sprint(got) != want {
		t.Fatalf("client received %v, want %s", got, want)
	}
}
